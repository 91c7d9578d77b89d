package dev.selfsup.core.tokenizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.cluster.KMeans;
import dev.selfsup.core.engine.Scalars;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A codebook of K vectors of dimension D with the training rules of VQ-VAE that keep it alive (van den Oord
 * et al. 2017; Razavi et al. 2019; Dhariwal et al. 2020):
 *
 * <ul>
 *   <li>nearest-code assignment by squared Euclidean distance;
 *   <li>codes follow their assigned vectors by exponential moving averages (decay γ) of counts and sums, with
 *       Laplace smoothing, instead of by gradients;
 *   <li>k-means initialisation on the first batch, so no code starts far from the data;
 *   <li>dead codes (EMA count below a threshold) are re-seeded on random vectors of the current batch.
 * </ul>
 *
 * <p>The codebook and its EMA state are plain arrays on the device, outside any gradient.
 */
public final class VectorQuantizer {
    private final int size;
    private final int dim;
    private final float decay;
    private final float deadThreshold;
    private final NDArray codes; // [K, D]
    private final NDArray counts; // [K]: EMA of assignments
    private final NDArray sums; // [K, D]: EMA of assigned vectors
    private final NDArray initialised; // [1]: 0 until the k-means initialisation

    /**
     * @param decay γ of the moving averages (0.99 in VQ-VAE-2)
     * @param deadThreshold a code whose EMA count falls below this is re-seeded
     */
    public VectorQuantizer(NDManager manager, int size, int dim, float decay, float deadThreshold) {
        if (size < 2 || dim < 1 || !(decay > 0 && decay < 1)) {
            throw new IllegalArgumentException("codebook of " + size + " x " + dim + " with decay " + decay);
        }
        this.size = size;
        this.dim = dim;
        this.decay = decay;
        this.deadThreshold = deadThreshold;
        this.codes = manager.randomNormal(0f, 1f, new Shape(size, dim), DataType.FLOAT32);
        this.counts = manager.ones(new Shape(size));
        this.sums = codes.duplicate();
        this.initialised = manager.zeros(new Shape(1));
    }

    public int size() {
        return size;
    }

    public int dim() {
        return dim;
    }

    /** The codes {@code [K, D]} (live: training updates them in place). */
    public NDArray codes() {
        return codes;
    }

    /** The EMA counts {@code [K]}. */
    public NDArray counts() {
        return counts;
    }

    /** The EMA sums {@code [K, D]}. */
    public NDArray sums() {
        return sums;
    }

    /** 1 once initialised by k-means; kept with the codebook so a resumed training does not do it again. */
    public NDArray initialisedFlag() {
        return initialised;
    }

    public boolean isInitialised() {
        return initialised.getFloat(0) > 0;
    }

    /** The index of the nearest code of each row of {@code z} ({@code [N, D]}): int64 {@code [N]}. */
    public NDArray nearest(NDArray z) {
        // Temporaries made from the codebook would belong to its long-lived manager: the scope frees them all.
        try (NDScope scope = new NDScope()) {
            NDArray zz = z.square().sum(new int[] {1}, true); // [N, 1]
            NDArray cc = codes.square().sum(new int[] {1}).reshape(1, size); // [1, K]
            NDArray d = zz.add(cc).subi(Scalars.muli(z.matMul(codes.transpose()), 2f));
            NDArray ids = d.argMin(1);
            NDScope.unregister(ids);
            return ids;
        }
    }

    /** The codes of indices {@code [N]}: {@code [N, D]}, owned by the indices' manager. */
    public NDArray lookup(NDArray ids) {
        NDArray q = codes.get(new NDIndex("{}", ids.toType(DataType.INT64, false)));
        q.attach(ids.getManager());
        return q;
    }

    /** Sets the codes to the k-means centroids of {@code z} (the first batch's encoder outputs). */
    public void initialiseFrom(NDArray z, long seed) {
        int n = (int) z.getShape().get(0);
        float[] c;
        if (n >= size) {
            c = KMeans.fit(z, size, 10, seed).centroids();
        } else {
            // Fewer vectors than codes: take them all and fill the rest with perturbed copies.
            float[] rows = z.toFloatArray();
            SplittableRandom rng = new SplittableRandom(seed);
            c = new float[size * dim];
            for (int k = 0; k < size; k++) {
                int from = k < n ? k : rng.nextInt(n);
                for (int t = 0; t < dim; t++) {
                    c[k * dim + t] = rows[from * dim + t] + (k < n ? 0f : (float) (1e-3 * rng.nextGaussian()));
                }
            }
        }
        // Each code starts as if it had its fair share of the batch: a code k-means placed well is not taken for
        // dead before it has had a chance to be used.
        float share = Math.max(2 * deadThreshold, (float) n / size);
        float[] cnt = new float[size];
        float[] sum = new float[size * dim];
        Arrays.fill(cnt, share);
        for (int i = 0; i < sum.length; i++) {
            sum[i] = c[i] * share;
        }
        set(c, cnt, sum);
        initialised.set(new NDIndex(":"), 1f);
    }

    /** Sets the codebook's state (codes {@code K x D}, counts {@code K}, sums {@code K x D}, row-major). */
    public void set(float[] newCodes, float[] newCounts, float[] newSums) {
        NDManager m = codes.getManager();
        try (NDArray c = m.create(newCodes, new Shape(size, dim)).toDevice(codes.getDevice(), false);
                NDArray n = m.create(newCounts, new Shape(size)).toDevice(codes.getDevice(), false);
                NDArray s = m.create(newSums, new Shape(size, dim)).toDevice(codes.getDevice(), false)) {
            codes.set(new NDIndex(":"), c);
            counts.set(new NDIndex(":"), n);
            sums.set(new NDIndex(":"), s);
        }
    }

    /**
     * One EMA step from a batch: {@code N ← γN + (1-γ)n}, {@code M ← γM + (1-γ) Σz}, and each code becomes
     * {@code M_k / Ñ_k} with {@code Ñ = (N + ε) / (ΣN + Kε) · ΣN}. Then codes whose count fell below the
     * threshold are re-seeded on random rows of {@code z}.
     *
     * @param z {@code [N, D]} encoder outputs (no gradient)
     * @param ids {@code [N]} their nearest codes
     * @return how many dead codes were re-seeded
     */
    public int update(NDArray z, NDArray ids, SplittableRandom rng) {
        // Temporaries of the long-lived codebook arrays would belong to its manager: the scope frees them.
        try (NDScope scope = new NDScope()) {
            NDArray onehot = ids.toType(DataType.INT64, false).oneHot(size, DataType.FLOAT32); // [N, K]
            NDArray n = onehot.sum(new int[] {0});
            NDArray s = onehot.transpose().matMul(z);
            Scalars.muli(counts, decay).addi(Scalars.muli(n, 1 - decay));
            Scalars.muli(sums, decay).addi(Scalars.muli(s, 1 - decay));
            float eps = 1e-5f;
            NDArray total = counts.sum();
            NDArray smoothed = counts.add(eps).divi(total.add(size * eps)).muli(total);
            codes.set(new NDIndex(":"), sums.div(smoothed.reshape(size, 1)));
            return reseedDead(z, rng);
        }
    }

    private int reseedDead(NDArray z, SplittableRandom rng) {
        float[] c = counts.toFloatArray();
        int rows = (int) z.getShape().get(0);
        int reseeded = 0;
        for (int k = 0; k < size; k++) {
            if (c[k] >= deadThreshold) {
                continue;
            }
            int r = rng.nextInt(rows);
            float grace = 2 * deadThreshold; // about 70 steps at γ = 0.99 before it can count as dead again
            try (NDArray row = z.get(r);
                    NDArray weighted = Scalars.mul(row, grace)) {
                codes.set(new NDIndex(k), row);
                sums.set(new NDIndex(k), weighted);
                counts.set(new NDIndex(k), grace);
            }
            reseeded++;
        }
        return reseeded;
    }
}
