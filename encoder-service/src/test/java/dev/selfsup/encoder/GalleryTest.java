package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A gallery on real files: what is searchable is what is saved. */
class GalleryTest {
    @TempDir
    Path dir;

    @Test
    void aFailedSaveChangesNothing() throws Exception {
        Path file = dir.resolve("v1.gallery");
        Gallery g = Gallery.open(file, 2);
        g.add(List.of("a"), List.of("cat"), new float[] {1, 0});
        // Tests run as root, for whom permissions do not stop a write: a non-empty folder where the file goes does.
        Files.delete(file);
        Files.createDirectories(file.resolve("blocked"));
        assertThrows(UncheckedIOException.class, () -> g.add(List.of("b"), List.of("dog"), new float[] {0, 1}));
        assertEquals(1, g.size(), "the item that could not be saved is not searchable");
        assertThrows(UncheckedIOException.class, g::clear);
        assertEquals(1, g.size(), "nor is a clear that could not be saved applied");
        Files.delete(file.resolve("blocked"));
        Files.delete(file);
        g.add(List.of("b"), List.of("dog"), new float[] {0, 1});
        assertEquals(2, Gallery.open(file, 2).size(), "memory and disk agree again");
    }
}
