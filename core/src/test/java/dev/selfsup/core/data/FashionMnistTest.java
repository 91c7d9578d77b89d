package dev.selfsup.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** The real Fashion-MNIST files of Debian's dataset-fashion-mnist (installed by .ci/run). */
class FashionMnistTest {
    @Test
    void readsBothSplits() throws IOException {
        assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR), "apt-get install dataset-fashion-mnist");
        ImageDataset train = FashionMnist.train(FashionMnist.DEFAULT_DIR);
        ImageDataset test = FashionMnist.test(FashionMnist.DEFAULT_DIR);
        assertEquals(60_000, train.size());
        assertEquals(10_000, test.size());
        assertEquals(28, train.height());
        assertEquals(10, train.numClasses());
        int[] counts = new int[10];
        for (int l : test.labels()) {
            counts[l]++;
        }
        for (int c : counts) {
            assertEquals(1000, c); // the test split is balanced
        }
        assertEquals(9, train.label(0)); // the first training image is an ankle boot
    }
}
