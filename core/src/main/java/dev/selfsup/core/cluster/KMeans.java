package dev.selfsup.core.cluster;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;
import java.util.SplittableRandom;

/**
 * Lloyd's k-means on the device, batched: distances are one matrix product per chunk of rows, centroid sums
 * another (one-hot assignments times points), so a GPU does the work and only k counts and the centroids
 * ({@code k x d}) visit the host each iteration. Initialised by k-means++; an emptied cluster is re-seeded by
 * splitting the largest one, as Faiss and DeepCluster do.
 *
 * <p>Brute force: memory per chunk is {@code chunk x k} floats, time {@code N k d} per iteration. One million
 * 256-d points into 10,000 clusters is a few seconds per iteration on a GPU.
 */
public final class KMeans {
    private static final long CHUNK_ELEMENTS = 1L << 24;

    private KMeans() {}

    /**
     * @param assignments the cluster of each point
     * @param centroids {@code k x d}, row-major
     * @param sizes points per cluster
     * @param reseeded how many times an empty cluster was re-seeded
     * @param inertia sum of squared distances of points to their centroid
     */
    public record Result(int[] assignments, float[] centroids, int[] sizes, int reseeded, double inertia) {}

    public static Result fit(NDArray x, int k, int iterations, long seed) {
        int n = (int) x.getShape().get(0);
        int d = (int) x.getShape().get(1);
        if (k < 1 || k > n) {
            throw new IllegalArgumentException("k must be in [1, " + n + "], got " + k);
        }
        SplittableRandom rng = new SplittableRandom(seed);
        NDManager m = x.getManager();
        try (NDManager tmp = m.newSubManager()) {
            NDArray points =
                    x.toType(DataType.FLOAT32, true); // a copy: attaching x itself would free the caller's array
            points.attach(tmp);
            NDArray norms = points.square().sum(new int[] {1}, true); // [N, 1]
            float[] c = plusPlus(points, norms, k, rng, tmp);
            int reseeded = 0;
            int[] assign = null;
            int[] sizes = null;
            double inertia = 0;
            for (int it = 0; it <= iterations; it++) {
                float[] s;
                // Every array of an iteration is freed at its end: only host copies leave it.
                try (NDScope scope = new NDScope()) {
                    NDArray centroids = tmp.create(c, new Shape(k, d)).toDevice(x.getDevice(), false);
                    Assignment a = assign(points, norms, centroids);
                    assign = a.labels;
                    inertia = a.inertia;
                    if (it == iterations) {
                        sizes = counts(assign, k);
                        break;
                    }
                    NDArray labels = tmp.create(assign).toDevice(x.getDevice(), false);
                    s = labels.oneHot(k, DataType.FLOAT32)
                            .transpose()
                            .matMul(points)
                            .toFloatArray(); // [k, d]
                }
                sizes = counts(assign, k);
                for (int j = 0; j < k; j++) {
                    if (sizes[j] > 0) {
                        for (int t = 0; t < d; t++) {
                            c[j * d + t] = s[j * d + t] / sizes[j];
                        }
                    }
                }
                reseeded += reseedEmpty(c, sizes, d, rng);
            }
            return new Result(assign, c, sizes, reseeded, inertia);
        }
    }

    private record Assignment(int[] labels, double inertia) {}

    /** Nearest centroid of every point, a chunk of rows at a time. */
    private static Assignment assign(NDArray points, NDArray norms, NDArray centroids) {
        int n = (int) points.getShape().get(0);
        int k = (int) centroids.getShape().get(0);
        int chunk = (int) Math.max(1, Math.min(n, CHUNK_ELEMENTS / k));
        int[] labels = new int[n];
        double inertia = 0;
        NDArray cNorms = centroids.square().sum(new int[] {1}).reshape(1, k);
        NDArray ct = centroids.transpose();
        for (int from = 0; from < n; from += chunk) {
            int to = Math.min(n, from + chunk);
            try (NDScope scope = new NDScope()) {
                NDArray p = points.get(from + ":" + to);
                NDArray d2 = norms.get(from + ":" + to).add(cNorms).subi(Scalars.muli(p.matMul(ct), 2f));
                NDArray best = d2.argMin(1).toType(DataType.INT32, false);
                NDArray min = Scalars.maximum(d2.min(new int[] {1}), 0f).sum();
                System.arraycopy(best.toIntArray(), 0, labels, from, to - from);
                inertia += min.getFloat();
            }
        }
        return new Assignment(labels, inertia);
    }

    /** k-means++: each next centre drawn with probability proportional to the squared distance to the nearest. */
    private static float[] plusPlus(NDArray points, NDArray norms, int k, SplittableRandom rng, NDManager tmp) {
        int n = (int) points.getShape().get(0);
        int d = (int) points.getShape().get(1);
        float[] c = new float[k * d];
        int first = rng.nextInt(n);
        float[] row;
        try (NDScope scope = new NDScope()) {
            row = points.get(first).toFloatArray();
        }
        System.arraycopy(row, 0, c, 0, d);
        NDArray nearest = null;
        for (int j = 1; j < k; j++) {
            try (NDScope scope = new NDScope()) {
                NDArray cj = tmp.create(row, new Shape(d, 1)).toDevice(points.getDevice(), false);
                NDArray dist = Scalars.maximum(
                                norms.add(cj.square().sum()).subi(Scalars.muli(points.matMul(cj), 2f)), 0f)
                        .reshape(-1);
                NDArray next = nearest == null ? dist : nearest.minimum(dist);
                NDScope.unregister(next);
                if (nearest != null) {
                    nearest.close();
                }
                nearest = next;
            }
            float[] w = nearest.toFloatArray();
            double total = 0;
            for (float v : w) {
                total += v;
            }
            int pick;
            if (total <= 0) {
                pick = rng.nextInt(n);
            } else {
                double r = rng.nextDouble() * total;
                pick = n - 1;
                for (int i = 0; i < n; i++) {
                    r -= w[i];
                    if (r <= 0) {
                        pick = i;
                        break;
                    }
                }
            }
            try (NDScope scope = new NDScope()) {
                row = points.get(pick).toFloatArray();
            }
            System.arraycopy(row, 0, c, j * d, d);
        }
        if (nearest != null) {
            nearest.close();
        }
        return c;
    }

    /** Splits the largest clusters into emptied ones (a centroid and its copy moved apart by a tiny offset). */
    private static int reseedEmpty(float[] c, int[] sizes, int d, SplittableRandom rng) {
        int reseeded = 0;
        for (int j = 0; j < sizes.length; j++) {
            if (sizes[j] > 0) {
                continue;
            }
            int big = 0;
            for (int i = 1; i < sizes.length; i++) {
                if (sizes[i] > sizes[big]) {
                    big = i;
                }
            }
            for (int t = 0; t < d; t++) {
                float eps = (float) (1e-4 * (rng.nextDouble() - 0.5));
                float v = c[big * d + t];
                c[j * d + t] = v + eps;
                c[big * d + t] = v - eps;
            }
            sizes[j] = sizes[big] / 2;
            sizes[big] -= sizes[j];
            reseeded++;
        }
        return reseeded;
    }

    private static int[] counts(int[] labels, int k) {
        int[] sizes = new int[k];
        for (int l : labels) {
            sizes[l]++;
        }
        return sizes;
    }
}
