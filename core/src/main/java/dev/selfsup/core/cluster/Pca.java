package dev.selfsup.core.cluster;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;
import org.ejml.interfaces.decomposition.QRDecomposition;

/**
 * PCA with whitening, fitted on the device's features: the D x D covariance is computed on the device. Up to
 * {@link #EXACT_MAX_FEATURES} features its full eigendecomposition runs on the host (EJML). Above that only the top
 * components are wanted, and a full decomposition on the host costs {@code D^3}: 9 to 11 s for 1,728 features, a
 * third of a DeepCluster epoch's clustering. There they come from subspace iteration (Halko, Martinsson and Tropp
 * 2011, algorithm 4.4): products with the covariance on the device, a thin QR and a small eigenproblem on the host.
 */
public final class Pca {
    /**
     * The most features whose covariance is decomposed in full: the grid encoder's 1,152 at its default width, so
     * its measured runs stay as they were (3 to 4 s there; subspace iteration would save about 2 s an epoch).
     */
    static final int EXACT_MAX_FEATURES = 1152;
    /** Directions tracked beyond the kept ones: they absorb the error of the last kept components. */
    static final int OVERSAMPLING = 32;
    /** Products with the covariance; the error of component j shrinks as (lambda_{m+1} / lambda_j)^iterations. */
    static final int SUBSPACE_ITERATIONS = 12;

    private final NDArray mean; // [1, D]
    private final NDArray projection; // [D, d], columns scaled by 1/sqrt(eigenvalue)
    private final double explained;

    private Pca(NDArray mean, NDArray projection, double explained) {
        this.mean = mean;
        this.projection = projection;
        this.explained = explained;
    }

    /**
     * Fits the top {@code dims} components of {@code x} ({@code [N, D]}); the arrays it keeps belong to
     * {@code manager}.
     */
    public static Pca fit(NDArray x, int dims, NDManager manager) {
        int d = (int) x.getShape().get(1);
        return fit(x, dims, manager, d <= EXACT_MAX_FEATURES || dims + OVERSAMPLING >= d);
    }

    /** As {@link #fit(NDArray, int, NDManager)}, by the full decomposition or by subspace iteration. */
    static Pca fit(NDArray x, int dims, NDManager manager, boolean exact) {
        long n = x.getShape().get(0);
        int d = (int) x.getShape().get(1);
        if (dims > d) {
            throw new IllegalArgumentException("PCA to " + dims + " dimensions of " + d + "-dimensional features");
        }
        NDArray mean = x.mean(new int[] {0}, true);
        mean.attach(manager);
        Components top;
        try (NDManager tmp = manager.newSubManager()) {
            NDArray centred = x.sub(mean);
            centred.attach(tmp);
            NDArray c = Scalars.divi(centred.transpose().matMul(centred), Math.max(1, n - 1));
            c.attach(tmp);
            top = exact ? exact(c.toFloatArray(), d, dims) : subspace(c, d, dims, tmp);
        }
        float[] w = new float[d * dims];
        double kept = 0;
        for (int j = 0; j < dims; j++) {
            kept += top.values[j];
            // Whitening: each component scaled to unit variance; the epsilon keeps null directions finite.
            double scale = 1.0 / Math.sqrt(top.values[j] + 1e-5);
            for (int r = 0; r < d; r++) {
                w[r * dims + j] = (float) (top.vectors.get(r, j) * scale);
            }
        }
        NDArray projection = manager.create(w, new Shape(d, dims)).toDevice(x.getDevice(), false);
        return new Pca(mean, projection, top.total == 0 ? 0 : kept / top.total);
    }

    /** The top eigenvalues (descending, at least 0), their eigenvectors as columns, and the total variance. */
    private record Components(double[] values, DMatrixRMaj vectors, double total) {}

    private static Components exact(float[] cov, int d, int dims) {
        DMatrixRMaj m = new DMatrixRMaj(d, d);
        for (int i = 0; i < d * d; i++) {
            m.data[i] = cov[i];
        }
        double total = 0;
        for (int i = 0; i < d; i++) {
            total += Math.max(0, m.get(i, i));
        }
        return top(m, dims, null, total);
    }

    private static Components subspace(NDArray c, int d, int dims, NDManager manager) {
        int m = Math.min(d, dims + OVERSAMPLING);
        // A fixed seed: the same features give the same components, so a resumed run clusters as an unbroken one.
        Random rng = new Random(0x5EED_9CA1L);
        float[] start = new float[d * m];
        for (int i = 0; i < start.length; i++) {
            start[i] = (float) rng.nextGaussian();
        }
        DMatrixRMaj q = orthonormal(start, d, m);
        for (int it = 0; it < SUBSPACE_ITERATIONS; it++) {
            try (NDManager step = manager.newSubManager()) {
                q = orthonormal(c.matMul(onDevice(q, step, c)).toFloatArray(), d, m);
            }
        }
        // The covariance restricted to the subspace: its eigenpairs are the Ritz approximations of the top ones.
        DMatrixRMaj b = new DMatrixRMaj(m, m);
        try (NDManager step = manager.newSubManager()) {
            NDArray qd = onDevice(q, step, c);
            float[] restricted = qd.transpose().matMul(c.matMul(qd)).toFloatArray();
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < m; j++) {
                    b.set(i, j, 0.5 * (restricted[i * m + j] + restricted[j * m + i]));
                }
            }
        }
        return top(b, dims, q, trace(c, d));
    }

    private static double trace(NDArray c, int d) {
        float[] diagonal = c.reshape(-1).get("::" + (d + 1)).toFloatArray(); // every (d+1)-th value: the diagonal
        double total = 0;
        for (float v : diagonal) {
            total += Math.max(0, v);
        }
        return total;
    }

    private static NDArray onDevice(DMatrixRMaj q, NDManager manager, NDArray like) {
        float[] f = new float[q.data.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) q.data[i];
        }
        return manager.create(f, new Shape(q.numRows, q.numCols)).toDevice(like.getDevice(), false);
    }

    private static DMatrixRMaj orthonormal(float[] y, int rows, int cols) {
        DMatrixRMaj a = new DMatrixRMaj(rows, cols);
        for (int i = 0; i < y.length; i++) {
            a.data[i] = y[i];
        }
        QRDecomposition<DMatrixRMaj> qr = DecompositionFactory_DDRM.qr(rows, cols);
        if (!qr.decompose(a)) {
            throw new IllegalStateException("QR of the feature subspace failed");
        }
        return qr.getQ(null, true);
    }

    /** Top {@code dims} eigenpairs of symmetric {@code s}; with {@code basis}, vectors are mapped back by it. */
    private static Components top(DMatrixRMaj s, int dims, DMatrixRMaj basis, double total) {
        int k = s.numRows;
        EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(k, true, true);
        if (!eig.decompose(s)) {
            throw new IllegalStateException("eigendecomposition of the feature covariance failed");
        }
        Integer[] order = new Integer[k];
        double[] all = new double[k];
        for (int i = 0; i < k; i++) {
            order[i] = i;
            all[i] = Math.max(0, eig.getEigenvalue(i).real);
        }
        Arrays.sort(order, Comparator.comparingDouble(i -> -all[i]));
        double[] values = new double[dims];
        DMatrixRMaj u = new DMatrixRMaj(k, dims);
        for (int j = 0; j < dims; j++) {
            values[j] = all[order[j]];
            DMatrixRMaj v = eig.getEigenVector(order[j]);
            for (int r = 0; r < k; r++) {
                u.set(r, j, v.get(r, 0));
            }
        }
        if (basis == null) {
            return new Components(values, u, total);
        }
        DMatrixRMaj vectors = new DMatrixRMaj(basis.numRows, dims);
        CommonOps_DDRM.mult(basis, u, vectors);
        return new Components(values, vectors, total);
    }

    /** The projection, {@code [D, dims]}: component j's unit vector over the square root of its variance. */
    NDArray projection() {
        return projection;
    }

    /** Projects, whitens and L2-normalizes rows: {@code [N, D]} to {@code [N, dims]}. */
    public NDArray transform(NDArray x) {
        NDArray z = x.sub(mean).matMul(projection);
        return z.normalize(2, 1, 1e-12);
    }

    /** The share of the variance the kept components explain. */
    public double explainedVariance() {
        return explained;
    }
}
