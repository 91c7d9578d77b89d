package dev.selfsup.core.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.color.AbBins;
import dev.selfsup.core.color.Lab;
import dev.selfsup.core.data.ImageDataset;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** CIE Lab, colour bins, PCA, k-means and NMI: the parts colorization and DeepCluster are made of. */
class ColourAndClusteringTest {
    @Test
    void labMatchesReferenceValuesAndRoundTrips() {
        // Reference values (D65): white, black, sRGB red, green and blue.
        assertLab(new double[] {100, 0, 0}, Lab.fromRgb(1, 1, 1), 0.01);
        assertLab(new double[] {0, 0, 0}, Lab.fromRgb(0, 0, 0), 0.01);
        assertLab(new double[] {53.24, 80.09, 67.20}, Lab.fromRgb(1, 0, 0), 0.02);
        assertLab(new double[] {87.73, -86.18, 83.18}, Lab.fromRgb(0, 1, 0), 0.02);
        assertLab(new double[] {32.30, 79.19, -107.86}, Lab.fromRgb(0, 0, 1), 0.02);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray rgb = m.randomUniform(0f, 1f, new Shape(4, 3, 6, 6));
            NDArray lab = Lab.fromRgb(rgb);
            assertArrayEquals(rgb.toFloatArray(), Lab.toRgb(lab).toFloatArray(), 2e-4f, "rgb -> lab -> rgb");
            // The batched conversion equals the per-pixel one.
            float[] p = rgb.toFloatArray();
            float[] l = lab.toFloatArray();
            for (int i = 0; i < 36; i++) {
                double[] ref = Lab.fromRgb(p[i], p[36 + i], p[72 + i]);
                assertEquals(ref[0], l[i], 2e-3);
                assertEquals(ref[1], l[36 + i], 2e-3);
                assertEquals(ref[2], l[72 + i], 2e-3);
                double[] back = Lab.toRgb(ref[0], ref[1], ref[2]);
                assertEquals(p[i], back[0], 1e-6);
            }
            assertArrayEquals(
                    lab.get(":, 0:1").div(100f).toFloatArray(),
                    Lab.lightness(rgb).toFloatArray(),
                    1e-4f);
        }
    }

    private static void assertLab(double[] expected, double[] actual, double tol) {
        for (int i = 0; i < 3; i++) {
            assertEquals(expected[i], actual[i], Math.max(tol, Math.abs(expected[i]) * 1e-3), "component " + i);
        }
    }

    @Test
    void binsRebalanceRareColoursAndEncodeSoftly() {
        double[] counts = new double[22 * 22];
        counts[11 * 22 + 11] = 1000; // a, b in [0, 10): near grey, common
        counts[3 * 22 + 18] = 10; // a in [-80, -70), b in [70, 80): a rare green-yellow
        AbBins bins = AbBins.fromData(colourData(), 10, 100, 0.5, 1);
        assertTrue(bins.size() > 1);
        // fromCounts via the test hook of the same package is not visible; check the invariants on data instead.
        double expected = 0;
        double maxWeight = 0;
        double commonWeight = 0;
        float commonPrior = 0;
        for (int q = 0; q < bins.size(); q++) {
            maxWeight = Math.max(maxWeight, bins.weight(q));
            if (bins.prior(q) > commonPrior) {
                commonPrior = bins.prior(q);
                commonWeight = bins.weight(q);
            }
        }
        assertTrue(maxWeight > commonWeight, "the rarest colours weigh more than the commonest");
        try (NDManager m = NDManager.newBaseManager()) {
            float[] c = bins.centre(0);
            NDArray ab = m.create(new float[] {c[0] + 1, c[1] - 1}, new Shape(1, 2));
            NDArray t = bins.softTargets(ab, 5);
            assertEquals(1.0, t.sum().getFloat(), 1e-5);
            assertEquals(0, t.argMax(1).getLong(0), "the nearest class gets the most mass");
            assertTrue(t.gt(0f).sum().getLong() <= 5, "at most 5 classes get mass");
            NDArray logits = m.zeros(new Shape(1, bins.size()));
            logits.set(new NDIndex("0, 0"), 50f);
            assertArrayEquals(
                    c,
                    bins.annealedMean(logits, 0.38f).toFloatArray(),
                    1e-3f,
                    "a sure prediction decodes to its centre");
            assertEquals(bins.weight(0), bins.pixelWeights(ab).getFloat(0), 1e-6);
        }
        assertEquals(0, counts[0]); // counts above describe the intent; the data below realises it
        assertTrue(expected >= 0);
    }

    /** 50 RGB 4x4 images: mostly grey, a few of them saturated green-yellow. */
    private static ImageDataset colourData() {
        int n = 50;
        byte[] px = new byte[n * 3 * 16];
        Random r = new Random(3);
        for (int i = 0; i < n; i++) {
            boolean rare = i % 10 == 0;
            for (int p = 0; p < 16; p++) {
                int v = 100 + r.nextInt(20);
                int[] rgb = rare ? new int[] {150, 220, 20} : new int[] {v, v, v};
                for (int ch = 0; ch < 3; ch++) {
                    px[(i * 3 + ch) * 16 + p] = (byte) rgb[ch];
                }
            }
        }
        return new ImageDataset("colours", px, null, n, 3, 4, 4, List.of());
    }

    @Test
    void kmeansRecoversSeparableClusters() {
        int k = 6;
        int per = 200;
        int d = 8;
        float[] x = new float[k * per * d];
        int[] truth = new int[k * per];
        Random r = new Random(4);
        for (int c = 0; c < k; c++) {
            for (int i = 0; i < per; i++) {
                int row = c * per + i;
                truth[row] = c;
                for (int t = 0; t < d; t++) {
                    x[row * d + t] = (t == c ? 10f : 0f) + (float) r.nextGaussian() * 0.5f;
                }
            }
        }
        try (NDManager m = NDManager.newBaseManager()) {
            KMeans.Result res = KMeans.fit(m.create(x, new Shape(k * per, d)), k, 20, 9);
            assertEquals(1.0, Nmi.of(truth, res.assignments()), 1e-9, "recovers the clusters exactly");
            for (int s : res.sizes()) {
                assertEquals(per, s);
            }
            // Ten copies of three points into five clusters: two must empty and be re-seeded, without failing.
            float[] few = new float[30 * 2];
            for (int i = 0; i < 30; i++) {
                few[2 * i] = i % 3;
                few[2 * i + 1] = 5 * (i % 3);
            }
            KMeans.Result f = KMeans.fit(m.create(few, new Shape(30, 2)), 5, 5, 1);
            assertEquals(30, f.assignments().length);
            assertTrue(f.inertia() < 1e-6, "every point sits on a centroid: " + f.inertia());
        }
    }

    @Test
    void nmiOfRelabelledAndIndependentPartitions() {
        int[] a = {0, 0, 1, 1, 2, 2, 3, 3};
        int[] relabelled = {5, 5, 7, 7, 1, 1, 0, 0};
        assertEquals(1.0, Nmi.of(a, relabelled), 1e-12);
        int[] b = {0, 1, 0, 1, 0, 1, 0, 1};
        int[] c = {0, 0, 0, 0, 1, 1, 1, 1};
        assertEquals(0.0, Nmi.of(b, c), 1e-12, "independent");
    }

    @Test
    void pcaKeepsTheStrongDirectionsAndWhitens() {
        int n = 2000;
        float[] x = new float[n * 5];
        Random r = new Random(2);
        for (int i = 0; i < n; i++) {
            double u = r.nextGaussian() * 10;
            double v = r.nextGaussian() * 3;
            x[i * 5] = (float) (u + 1);
            x[i * 5 + 1] = (float) (u - v);
            x[i * 5 + 2] = (float) v;
            x[i * 5 + 3] = (float) (r.nextGaussian() * 0.01);
            x[i * 5 + 4] = (float) (r.nextGaussian() * 0.01);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray data = m.create(x, new Shape(n, 5));
            Pca pca = Pca.fit(data, 2, m);
            assertTrue(pca.explainedVariance() > 0.999, "two directions explain it: " + pca.explainedVariance());
            NDArray z = pca.transform(data);
            assertEquals(new Shape(n, 2), z.getShape());
            assertArrayEquals(new float[n], z.norm(new int[] {1}).sub(1f).toFloatArray(), 1e-4f, "rows L2-normalised");
        }
    }

    @Test
    void subspaceIterationFindsTheTopComponentsTheFullDecompositionFinds() {
        // Features as an encoder's: 320 correlated values whose variances fall off as a power law.
        int n = 2000;
        int d = 320;
        int dims = 48;
        Random r = new Random(5);
        float[] z = new float[n * d];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) {
                z[i * d + j] = (float) (r.nextGaussian() * Math.pow(j + 1, -0.6));
            }
        }
        float[] mix = new float[d * d];
        for (int i = 0; i < mix.length; i++) {
            mix[i] = (float) r.nextGaussian();
        }
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(z, new Shape(n, d)).matMul(m.create(mix, new Shape(d, d)));
            Pca full = Pca.fit(x, dims, m, true);
            Pca fast = Pca.fit(x, dims, m, false);
            assertEquals(full.explainedVariance(), fast.explainedVariance(), 1e-4, "variance explained");
            // Mean squared cosine of the principal angles between the two kept subspaces: 1 when they are the same.
            NDArray a = full.projection().normalize(2, 0);
            NDArray b = fast.projection().normalize(2, 0);
            double overlap = a.transpose().matMul(b).square().sum().getFloat() / dims;
            assertEquals(1.0, overlap, 1e-3, "the same subspace");
            // Component by component, up to sign: the whitening scales of the leading half match too.
            float[] cos = a.mul(b).sum(new int[] {0}).abs().toFloatArray();
            for (int j = 0; j < dims / 2; j++) {
                assertEquals(1.0, cos[j], 1e-3, "component " + j);
            }
            float[] fullScale = full.projection().norm(new int[] {0}).toFloatArray();
            float[] fastScale = fast.projection().norm(new int[] {0}).toFloatArray();
            assertArrayEquals(fullScale, fastScale, 1e-3f * fullScale[dims - 1], "whitening scales");
        }
    }
}
