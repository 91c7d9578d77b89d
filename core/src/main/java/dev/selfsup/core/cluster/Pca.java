package dev.selfsup.core.cluster;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;
import java.util.Arrays;
import java.util.Comparator;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;

/**
 * PCA with whitening, fitted on the device's features: the D x D covariance is computed on the device, only it
 * crosses to the host for its eigendecomposition (EJML), and the projection runs on the device again.
 */
public final class Pca {
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
        long n = x.getShape().get(0);
        int d = (int) x.getShape().get(1);
        if (dims > d) {
            throw new IllegalArgumentException("PCA to " + dims + " dimensions of " + d + "-dimensional features");
        }
        NDArray mean = x.mean(new int[] {0}, true);
        mean.attach(manager);
        float[] cov;
        try (NDManager tmp = manager.newSubManager()) {
            NDArray centred = x.sub(mean);
            centred.attach(tmp);
            NDArray c = Scalars.divi(centred.transpose().matMul(centred), Math.max(1, n - 1));
            c.attach(tmp);
            cov = c.toFloatArray();
        }
        DMatrixRMaj m = new DMatrixRMaj(d, d);
        for (int i = 0; i < d * d; i++) {
            m.data[i] = cov[i];
        }
        EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(d, true, true);
        if (!eig.decompose(m)) {
            throw new IllegalStateException("eigendecomposition of the feature covariance failed");
        }
        Integer[] order = new Integer[d];
        double[] values = new double[d];
        double total = 0;
        for (int i = 0; i < d; i++) {
            order[i] = i;
            values[i] = Math.max(0, eig.getEigenvalue(i).real);
            total += values[i];
        }
        Arrays.sort(order, Comparator.comparingDouble(i -> -values[i]));
        float[] w = new float[d * dims];
        double kept = 0;
        for (int j = 0; j < dims; j++) {
            int i = order[j];
            kept += values[i];
            DMatrixRMaj v = eig.getEigenVector(i);
            // Whitening: each component scaled to unit variance; the epsilon keeps null directions finite.
            double scale = 1.0 / Math.sqrt(values[i] + 1e-5);
            for (int r = 0; r < d; r++) {
                w[r * dims + j] = (float) (v.get(r, 0) * scale);
            }
        }
        NDArray projection = manager.create(w, new Shape(d, dims)).toDevice(x.getDevice(), false);
        return new Pca(mean, projection, total == 0 ? 0 : kept / total);
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
