package dev.selfsup.core.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** kNN weighting by hand, and both classifiers on separable data. */
class KnnClassifierTest {
    static NDManager m;

    @BeforeAll
    static void up() {
        m = NDManager.newBaseManager();
    }

    @AfterAll
    static void down() {
        m.close();
    }

    @Test
    void votesAreWeightedByExpSimilarityOverTemperature() {
        // Train: (1,0) class 0, (0,1) class 1, (1,1)/sqrt2 class 1. Query (1,0).
        NDArray train = m.create(new float[] {1, 0, 0, 1, 1, 1}, new Shape(3, 2));
        NDArray labels = m.create(new long[] {0, 1, 1});
        NDArray query = m.create(new float[] {1, 0}, new Shape(1, 2));
        float[] s = new KnnClassifier(3, 0.5f).scores(train, labels, query, 2).toFloatArray();
        double c0 = Math.exp(1 / 0.5);
        double c1 = Math.exp(0 / 0.5) + Math.exp((1 / Math.sqrt(2)) / 0.5);
        assertEquals(c0, s[0], 1e-4);
        assertEquals(c1, s[1], 1e-4);
        // With k = 2 only the two most similar vote: (1,0) and (1,1)/sqrt2.
        float[] s2 = new KnnClassifier(2, 0.5f).scores(train, labels, query, 2).toFloatArray();
        assertEquals(c0, s2[0], 1e-4);
        assertEquals(Math.exp((1 / Math.sqrt(2)) / 0.5), s2[1], 1e-4);
    }

    @Test
    void bothClassifiersSeparateGaussianBlobs() {
        int n = 400;
        int d = 8;
        int classes = 4;
        Random r = new Random(7);
        float[] x = new float[n * d];
        long[] y = new long[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % classes;
            for (int j = 0; j < d; j++) {
                x[i * d + j] = (float) (r.nextGaussian() * 0.3 + (j == y[i] ? 3 : 0));
            }
        }
        NDArray f = m.create(x, new Shape(n, d));
        NDArray labels = m.create(y);
        NDArray trainF = f.get("0:300");
        NDArray testF = f.get("300:");
        double knn =
                new KnnClassifier(20, 0.1f).accuracy(trainF, labels.get("0:300"), testF, labels.get("300:"), classes);
        double lin = new LinearProbe(200, 0.05f, 1e-4f)
                .accuracy(trainF, labels.get("0:300"), testF, labels.get("300:"), classes);
        assertEquals(1.0, knn, 0.02);
        assertEquals(1.0, lin, 0.02);
    }
}
