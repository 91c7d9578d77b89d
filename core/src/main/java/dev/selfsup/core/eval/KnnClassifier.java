package dev.selfsup.core.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.nn.Losses;
import java.util.Arrays;

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
        return vote(top.get(0), top.get(1), trainLabels, classes);
    }

    /** Class scores from the neighbours' similarities and training-row indices, both {@code [M, k]}. */
    private NDArray vote(NDArray similarities, NDArray neighbours, NDArray trainLabels, int classes) {
        NDArray weights = Scalars.div(similarities, temperature).exp(); // [M, k]
        NDArray neighbourLabels = trainLabels.take(neighbours); // [M, k]
        NDArray votes = neighbourLabels.oneHot(classes, DataType.FLOAT32); // [M, k, classes]
        return votes.mul(weights.expandDims(2)).sum(new int[] {1});
    }

    /**
     * Accuracy with both feature sets read chunk by chunk: for each chunk of queries, the k best neighbours are
     * merged over the chunks of training rows, so memory holds one chunk of each, never the whole similarity
     * matrix or the whole training set. The same neighbours as {@link #accuracy(NDArray, NDArray, NDArray, NDArray,
     * int)}.
     *
     * @param trainLabels int64 {@code [N]}, in the training features' row order
     */
    public double accuracy(
            FeatureMatrix train,
            NDArray trainLabels,
            FeatureMatrix test,
            NDArray testLabels,
            int chunkRows,
            int classes) {
        long m = test.rows();
        long correct = 0;
        NDManager root = trainLabels.getManager();
        for (long from = 0; from < m; from += 1000) {
            int q = (int) Math.min(1000, m - from);
            // Every array of this chunk of queries, in any manager, is freed when the scope closes.
            try (NDManager chunk = root.newSubManager();
                    NDScope queries = new NDScope()) {
                NDArray[] best = nearest(train, test.chunk(from, q, chunk), chunkRows, chunk);
                NDArray pred = vote(best[0], best[1], trainLabels, classes).argMax(1);
                NDArray truth = testLabels.get(from + ":" + (from + q));
                correct += pred.eq(truth.toType(DataType.INT64, false))
                        .toType(DataType.INT64, false)
                        .sum()
                        .getLong();
            }
        }
        return (double) correct / m;
    }

    /**
     * The training rows nearest each query row, in increasing row order ({@code [M][min(k, N)]}), with both feature
     * sets read chunk by chunk as {@link #accuracy(FeatureMatrix, NDArray, FeatureMatrix, NDArray, int, int)} reads them.
     */
    public long[][] neighbours(FeatureMatrix train, FeatureMatrix test, int chunkRows, NDManager manager) {
        long[][] out = new long[Math.toIntExact(test.rows())][];
        for (long from = 0; from < test.rows(); from += 1000) {
            int q = (int) Math.min(1000, test.rows() - from);
            try (NDManager chunk = manager.newSubManager();
                    NDScope queries = new NDScope()) {
                NDArray idx = nearest(train, test.chunk(from, q, chunk), chunkRows, chunk)[1];
                int kk = (int) idx.getShape().get(1);
                long[] flat = idx.toLongArray();
                for (int r = 0; r < q; r++) {
                    out[(int) from + r] = Arrays.copyOfRange(flat, r * kk, (r + 1) * kk);
                    Arrays.sort(out[(int) from + r]);
                }
            }
        }
        return out;
    }

    /**
     * The k best neighbours of the query rows {@code [q, D]}: their similarities and training-row indices (int64),
     * both {@code [q, k]}, merged over the chunks of training rows so that memory holds one chunk at a time.
     */
    private NDArray[] nearest(FeatureMatrix train, NDArray queries, int chunkRows, NDManager chunk) {
        NDArray qn = Losses.l2Normalize(queries);
        NDArray bestSim = null;
        NDArray bestIdx = null;
        for (long t = 0; t < train.rows(); t += chunkRows) {
            int n = (int) Math.min(chunkRows, train.rows() - t);
            NDArray sim;
            NDArray idx;
            try (NDScope step = new NDScope()) {
                NDArray tn = Losses.l2Normalize(train.chunk(t, n, chunk));
                NDList top = qn.matMul(tn.transpose()).topK(Math.min(k, n), 1, true, false);
                sim = top.get(0);
                idx = top.get(1).toType(DataType.INT64, false).add(t);
                if (bestSim != null) {
                    NDArray allSim = bestSim.concat(sim, 1);
                    NDArray allIdx = bestIdx.concat(idx, 1);
                    NDList keep =
                            allSim.topK((int) Math.min(k, allSim.getShape().get(1)), 1, true, false);
                    sim = keep.get(0);
                    idx = allIdx.gather(keep.get(1).toType(DataType.INT64, false), 1);
                }
                NDScope.unregister(sim, idx);
            }
            if (bestSim != null) {
                bestSim.close();
                bestIdx.close();
            }
            bestSim = sim;
            bestIdx = idx;
        }
        return new NDArray[] {bestSim, bestIdx};
    }

    /** The training rows nearest each query row, in increasing row order, from features in memory (one product). */
    public long[][] neighbours(NDArray train, NDArray query) {
        int kk = (int) Math.min(k, train.getShape().get(0));
        long[] flat;
        try (NDScope scope = new NDScope()) {
            NDArray sim =
                    Losses.l2Normalize(query).matMul(Losses.l2Normalize(train).transpose());
            flat = sim.topK(kk, 1, true, false)
                    .get(1)
                    .toType(DataType.INT64, false)
                    .toLongArray();
        }
        long[][] out = new long[(int) query.getShape().get(0)][];
        for (int r = 0; r < out.length; r++) {
            out[r] = Arrays.copyOfRange(flat, r * kk, (r + 1) * kk);
            Arrays.sort(out[r]);
        }
        return out;
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
