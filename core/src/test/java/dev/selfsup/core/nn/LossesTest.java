package dev.selfsup.core.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The contrastive losses against plain-Java references written from the papers' formulas. */
class LossesTest {
    static NDManager m;

    @BeforeAll
    static void up() {
        m = NDManager.newBaseManager();
    }

    @AfterAll
    static void down() {
        m.close();
    }

    static double[][] random(int n, int d, long seed) {
        Random r = new Random(seed);
        double[][] x = new double[n][d];
        for (double[] row : x) {
            for (int j = 0; j < d; j++) {
                row[j] = r.nextGaussian();
            }
        }
        return x;
    }

    static NDArray nd(double[][] x) {
        float[] f = new float[x.length * x[0].length];
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < x[0].length; j++) {
                f[i * x[0].length + j] = (float) x[i][j];
            }
        }
        return m.create(f, new Shape(x.length, x[0].length));
    }

    static double[] unit(double[] v) {
        double n = 0;
        for (double a : v) {
            n += a * a;
        }
        n = Math.sqrt(n);
        double[] u = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            u[i] = v[i] / n;
        }
        return u;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    @Test
    void ntXentMatchesReference() {
        int n = 3;
        double t = 0.5;
        double[][] z1 = random(n, 4, 1);
        double[][] z2 = random(n, 4, 2);
        double[][] z = new double[2 * n][];
        for (int i = 0; i < n; i++) {
            z[i] = unit(z1[i]);
            z[n + i] = unit(z2[i]);
        }
        double total = 0;
        for (int i = 0; i < 2 * n; i++) {
            int pos = (i + n) % (2 * n);
            double denom = 0;
            for (int k = 0; k < 2 * n; k++) {
                if (k != i) {
                    denom += Math.exp(dot(z[i], z[k]) / t);
                }
            }
            total += -Math.log(Math.exp(dot(z[i], z[pos]) / t) / denom);
        }
        double expected = total / (2 * n);
        float got = Losses.ntXent(nd(z1), nd(z2), (float) t).getFloat();
        assertEquals(expected, got, 1e-5);
    }

    @Test
    void ntXentOfIdenticalOrthogonalPairsIsSmall() {
        // Each pair identical and orthogonal to the others: the positive dominates, the loss nears its minimum.
        double[][] a = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
        float low = Losses.ntXent(nd(a), nd(a), 0.05f).getFloat();
        assertEquals(0.0, low, 1e-3);
    }

    @Test
    void infoNceMatchesReference() {
        int n = 2;
        int k = 5;
        double t = 0.2;
        double[][] q = random(n, 4, 3);
        double[][] key = random(n, 4, 4);
        double[][] queue = random(k, 4, 5);
        for (int i = 0; i < n; i++) {
            q[i] = unit(q[i]);
            key[i] = unit(key[i]);
        }
        for (int j = 0; j < k; j++) {
            queue[j] = unit(queue[j]);
        }
        double total = 0;
        for (int i = 0; i < n; i++) {
            double pos = Math.exp(dot(q[i], key[i]) / t);
            double denom = pos;
            for (int j = 0; j < k; j++) {
                denom += Math.exp(dot(q[i], queue[j]) / t);
            }
            total += -Math.log(pos / denom);
        }
        float got = Losses.infoNce(nd(q), nd(key), nd(queue), (float) t).getFloat();
        assertEquals(total / n, got, 1e-5);
    }

    @Test
    void crossEntropyOfUniformLogitsIsLogClasses() {
        NDArray logits = m.zeros(new Shape(4, 10));
        NDArray labels = m.create(new long[] {0, 3, 9, 5});
        assertEquals(Math.log(10), Losses.crossEntropy(logits, labels).getFloat(), 1e-6);
    }

    /** Column means and (population or sample) variances of x. */
    static double[][] columnStats(double[][] x, boolean sample) {
        int n = x.length;
        int d = x[0].length;
        double[] mean = new double[d];
        double[] var = new double[d];
        for (double[] row : x) {
            for (int j = 0; j < d; j++) {
                mean[j] += row[j] / n;
            }
        }
        for (double[] row : x) {
            for (int j = 0; j < d; j++) {
                var[j] += (row[j] - mean[j]) * (row[j] - mean[j]) / (sample ? n - 1 : n);
            }
        }
        return new double[][] {mean, var};
    }

    @Test
    void meanCosineMatchesReference() {
        double[][] p = random(5, 6, 3);
        double[][] z = random(5, 6, 4);
        double expected = 0;
        for (int i = 0; i < 5; i++) {
            expected += dot(unit(p[i]), unit(z[i])) / 5;
        }
        assertEquals(expected, Losses.meanCosine(nd(p), nd(z)).getFloat(), 1e-6);
        // The other view of row i of [view 1; view 2] is row i of [view 2; view 1].
        double[][] both = random(4, 3, 5);
        float[] swapped = Losses.otherView(nd(both)).toFloatArray();
        assertEquals((float) both[2][1], swapped[1], 0f);
        assertEquals((float) both[0][2], swapped[2 * 3 + 2], 0f);
    }

    @Test
    void barlowTwinsMatchesReference() {
        int n = 8;
        int d = 5;
        double lambda = 0.02;
        double[][] z1 = random(n, d, 6);
        double[][] z2 = random(n, d, 7);
        double[][] s1 = columnStats(z1, false);
        double[][] s2 = columnStats(z2, false);
        double expected = 0;
        for (int a = 0; a < d; a++) {
            for (int b = 0; b < d; b++) {
                double c = 0;
                for (int i = 0; i < n; i++) {
                    c += (z1[i][a] - s1[0][a])
                            / Math.sqrt(s1[1][a] + 1e-5)
                            * (z2[i][b] - s2[0][b])
                            / Math.sqrt(s2[1][b] + 1e-5)
                            / n;
                }
                expected += a == b ? (1 - c) * (1 - c) : lambda * c * c;
            }
        }
        assertEquals(
                expected, Losses.barlowTwins(nd(z1), nd(z2), (float) lambda).getFloat(), 1e-5 * expected);
    }

    @Test
    void vicregMatchesReference() {
        int n = 8;
        int d = 5;
        double[][] z1 = random(n, d, 8);
        double[][] z2 = random(n, d, 9);
        for (double[] row : z2) {
            row[0] *= 0.1; // one dimension below the variance hinge's target
        }
        double invariance = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) {
                invariance += (z1[i][j] - z2[i][j]) * (z1[i][j] - z2[i][j]) / (n * d);
            }
        }
        double variance = 0;
        double covariance = 0;
        for (double[][] z : new double[][][] {z1, z2}) {
            double[][] st = columnStats(z, true);
            for (int j = 0; j < d; j++) {
                variance += Math.max(0, 1 - Math.sqrt(st[1][j] + 1e-4)) / d;
            }
            for (int a = 0; a < d; a++) {
                for (int b = 0; b < d; b++) {
                    if (a == b) {
                        continue;
                    }
                    double c = 0;
                    for (double[] row : z) {
                        c += (row[a] - st[0][a]) * (row[b] - st[0][b]) / (n - 1);
                    }
                    covariance += c * c / d;
                }
            }
        }
        double expected = 25 * invariance + 25 * variance + covariance;
        assertEquals(expected, Losses.vicreg(nd(z1), nd(z2), 25f, 25f, 1f).getFloat(), 1e-5 * expected);
    }
}
