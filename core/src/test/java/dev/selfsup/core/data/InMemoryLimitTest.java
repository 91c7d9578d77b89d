package dev.selfsup.core.data;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A dataset file whose pixels cannot be one in-memory dataset (CIFAR binary, which has no on-disk form) is refused
 * before anything is decoded, with a message that says what to change, rather than a NegativeArraySizeException:
 * 15,000 RGB images at 224 px are 2.26 GB of pixels. Image folders that large are read from disk instead
 * ({@link ImageFileStoreTest}).
 */
class InMemoryLimitTest {
    private static final Path ROOT = Path.of("photos");

    @Test
    void fifteenThousandImagesAt224PixelsAreRefusedClearly() {
        DatasetFormatException e = assertThrows(
                DatasetFormatException.class,
                () -> ImageFolderReader.checkFitsInMemory(
                        ROOT, 15_000, 3 * 224 * 224, ImageFolderReader.MAX_PIXEL_BYTES));
        assertTrue(e.getMessage().contains("2.26 GB of pixels"), e.getMessage());
        assertTrue(e.getMessage().contains("use at most 14266 images at this size"), e.getMessage());
    }

    @Test
    void whatFitsPasses() {
        assertDoesNotThrow(
                () -> ImageFolderReader.checkFitsInMemory(ROOT, 60_000, 28 * 28, ImageFolderReader.MAX_PIXEL_BYTES));
        assertDoesNotThrow(() ->
                ImageFolderReader.checkFitsInMemory(ROOT, 14_266, 3 * 224 * 224, ImageFolderReader.MAX_PIXEL_BYTES));
    }
}
