package dev.selfsup.core.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Blocks;
import dev.selfsup.core.data.ImageDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Evaluation whose features do not fit the budget: written to a file and read chunk by chunk, it finds the same
 * k nearest neighbours as the in-memory evaluation, a linear probe as good, and leaves no file behind.
 */
class EvaluationAtScaleTest {
    @TempDir
    Path spill;

    @Test
    void chunkedKnnFindsTheSameNeighbours() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            m.getEngine().setRandomSeed(5);
            NDArray train = m.randomNormal(new Shape(500, 16));
            NDArray test = m.randomNormal(new Shape(130, 16));
            NDArray ytr = m.randomInteger(0, 4, new Shape(500), DataType.INT64);
            NDArray yte = m.randomInteger(0, 4, new Shape(130), DataType.INT64);
            KnnClassifier knn = new KnnClassifier(20, 0.1f);
            double whole = knn.accuracy(train, ytr, test, yte, 4);
            // Chunks of 37 training rows: fewer than k, and not a divisor of 500.
            double chunked = knn.accuracy(FeatureMatrix.of(train), ytr, FeatureMatrix.of(test), yte, 37, 4);
            assertEquals(whole, chunked);
            // The neighbours themselves, query by query (random features have no ties at the k-th place).
            long[][] all = knn.neighbours(train, test);
            long[][] merged = knn.neighbours(FeatureMatrix.of(train), FeatureMatrix.of(test), 37, m);
            assertEquals(130, merged.length);
            for (int q = 0; q < all.length; q++) {
                assertEquals(20, merged[q].length);
                assertArrayEquals(all[q], merged[q], "query " + q);
            }
        }
    }

    @Test
    void featuresInAFileEvaluateLikeFeaturesInMemory() throws IOException {
        ImageDataset train = images(1200, 1);
        ImageDataset test = images(300, 2);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            var encoder = Blocks.batchFlattenBlock();
            EvaluationReport inMemory = new Evaluator().evaluate(encoder, train, test, m);
            // 1,200 x 64 floats are 300 KB: a 10 KB budget sends both splits to files.
            EvaluationReport inFiles = new Evaluator(new KnnClassifier(), new LinearProbe(), 10_000, spill)
                    .evaluate(encoder, train, test, m);
            assertEquals(inMemory.knnAccuracy(), inFiles.knnAccuracy(), 1e-9, "the same neighbours");
            assertEquals(inMemory.linearAccuracy(), inFiles.linearAccuracy(), 0.03, "mini-batch against full batch");
            assertTrue(inFiles.linearAccuracy() > 0.6, "the probe learned: " + inFiles);
            assertEquals(64, inFiles.featureDim());
            assertEquals(
                    inMemory.knnAccuracy(),
                    new Evaluator().knnAccuracy(encoder, train, test, m),
                    1e-9,
                    "the kNN a learning curve takes equals the full evaluation's");
            try (Stream<Path> left = Files.list(spill)) {
                assertEquals(List.of(), left.toList(), "the feature files are deleted");
            }
            // What the budget does: over it, the features are in a file (the accuracies above could be equal with
            // everything in memory); within it, in memory and no file.
            try (FeatureMatrix over = FeatureMatrix.extract(encoder, train, 512, m, 10_000, spill);
                    Stream<Path> files = Files.list(spill)) {
                assertTrue(!over.inMemory(), "1,200 x 64 floats over a 10 KB budget go to a file");
                assertEquals(1, files.count(), "one feature file while it is open");
                assertEquals(1200, over.rows());
            }
            try (FeatureMatrix within = FeatureMatrix.extract(encoder, train, 512, m, 1_000_000, spill);
                    Stream<Path> files = Files.list(spill)) {
                assertTrue(within.inMemory());
                assertEquals(0, files.count());
            }
        }
    }

    /** 8x8 grey images of 4 classes: a class-dependent bright quadrant under noise, listed class by class. */
    private static ImageDataset images(int n, long seed) {
        Random r = new Random(seed);
        byte[] px = new byte[n * 64];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int c = i * 4 / n;
            labels[i] = c;
            for (int y = 0; y < 8; y++) {
                for (int x = 0; x < 8; x++) {
                    boolean lit = (y / 4) * 2 + (x / 4) == c;
                    int v = (lit ? 150 : 60) + (int) (r.nextGaussian() * 40);
                    px[i * 64 + y * 8 + x] = (byte) Math.max(0, Math.min(255, v));
                }
            }
        }
        return new ImageDataset("q" + seed, px, labels, n, 1, 8, 8, List.of("a", "b", "c", "d"));
    }
}
