package dev.selfsup.core.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.selfsup.core.nn.Losses;

/**
 * Weighted k-nearest-neighbour classification on frozen features (Wu et al. 2018, as solo-learn evaluates):
 * cosine similarity, the k most similar training images vote for their class with weight
 * {@code exp(similarity / T)}, the class with the largest total wins. Defaults: k = 200, T = 0.1.
 */
public final class KnnClassifier {
    private final int k;
    private final float temperature;

    public KnnClassifier(int k, float temperature) {
        if (k <= 0 || temperature <= 0) {
            throw new IllegalArgumentException("k and temperature must be positive");
        }
        this.k = k;
        this.temperature = temperature;
    }

    public KnnClassifier() {
        this(200, 0.1f);
    }

    /**
     * Class scores {@code [M, classes]} of the query rows against the training rows.
     *
     * @param train {@code [N, D]} features, @param trainLabels int64 {@code [N]}, @param query {@code [M, D]}
     */
    public NDArray scores(NDArray train, NDArray trainLabels, NDArray query, int classes) {
        NDArray tn = Losses.l2Normalize(train);
        NDArray qn = Losses.l2Normalize(query);
        int kk = (int) Math.min(k, train.getShape().get(0));
        NDArray sim = qn.matMul(tn.transpose()); // [M, N]
        NDList top = sim.topK(kk, 1, true, false);
        NDArray weights = top.get(0).div(temperature).exp(); // [M, k]
        NDArray neighbourLabels = trainLabels.take(top.get(1)); // [M, k]
        NDArray votes = neighbourLabels.oneHot(classes, DataType.FLOAT32); // [M, k, classes]
        return votes.mul(weights.expandDims(2)).sum(new int[] {1});
    }

    /** Accuracy on the test rows, computed in chunks of 1,000 queries to bound memory. */
    public double accuracy(NDArray train, NDArray trainLabels, NDArray test, NDArray testLabels, int classes) {
        long m = test.getShape().get(0);
        long correct = 0;
        NDManager root = test.getManager();
        for (long from = 0; from < m; from += 1000) {
            long to = Math.min(m, from + 1000);
            try (NDManager chunk = root.newSubManager()) {
                NDArray q = test.get(from + ":" + to);
                q.attach(chunk);
                NDArray pred = scores(train, trainLabels, q, classes).argMax(1);
                NDArray truth = testLabels.get(from + ":" + to);
                truth.attach(chunk);
                NDArray hits = pred.eq(truth.toType(DataType.INT64, false))
                        .toType(DataType.INT64, false)
                        .sum();
                hits.attach(chunk);
                correct += hits.getLong();
                // arrays created from train live in its manager: free them with the chunk
                pred.attach(chunk);
            }
        }
        return (double) correct / m;
    }
}
