package dev.selfsup.core.numerics;

/**
 * The ops the encoders train with, forward and backward, written out in double precision: the yardstick the
 * engine's float32 kernels are held against. Arrays are flat and row-major (NCHW for images); {@code g} is the
 * gradient of the loss with respect to the op's output.
 */
final class Reference {
    private Reference() {}

    /** Output size of a convolution along one axis. */
    static int convOut(int in, int k, int stride, int pad) {
        return (in + 2 * pad - k) / stride + 1;
    }

    /**
     * Convolution (cross-correlation, as deep-learning libraries define it) and its gradients.
     *
     * @return {y, dx, dw, db}; db is null when there is no bias
     */
    static double[][] conv2d(
            double[] x,
            double[] w,
            double[] b,
            double[] g,
            int n,
            int c,
            int h,
            int wd,
            int o,
            int k,
            int stride,
            int pad) {
        int ho = convOut(h, k, stride, pad);
        int wo = convOut(wd, k, stride, pad);
        double[] y = new double[n * o * ho * wo];
        double[] dx = new double[x.length];
        double[] dw = new double[w.length];
        double[] db = b == null ? null : new double[o];
        for (int ni = 0; ni < n; ni++) {
            for (int oi = 0; oi < o; oi++) {
                for (int yi = 0; yi < ho; yi++) {
                    for (int xi = 0; xi < wo; xi++) {
                        int out = ((ni * o + oi) * ho + yi) * wo + xi;
                        double sum = b == null ? 0 : b[oi];
                        double go = g[out];
                        for (int ci = 0; ci < c; ci++) {
                            for (int ky = 0; ky < k; ky++) {
                                int iy = yi * stride - pad + ky;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                int xRow = ((ni * c + ci) * h + iy) * wd;
                                int wRow = ((oi * c + ci) * k + ky) * k;
                                for (int kx = 0; kx < k; kx++) {
                                    int ix = xi * stride - pad + kx;
                                    if (ix < 0 || ix >= wd) {
                                        continue;
                                    }
                                    sum += w[wRow + kx] * x[xRow + ix];
                                    dx[xRow + ix] += go * w[wRow + kx];
                                    dw[wRow + kx] += go * x[xRow + ix];
                                }
                            }
                        }
                        y[out] = sum;
                        if (db != null) {
                            db[oi] += go;
                        }
                    }
                }
            }
        }
        return new double[][] {y, dx, dw, db};
    }

    /**
     * Batch normalisation over N, H and W per channel, in training mode (batch statistics, biased variance).
     *
     * @return {y, dx, dgamma, dbeta}
     */
    static double[][] batchNormTrain(
            double[] x, double[] gamma, double[] beta, double[] g, int n, int c, int hw, double eps) {
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        double[] dgamma = new double[c];
        double[] dbeta = new double[c];
        int m = n * hw;
        for (int ci = 0; ci < c; ci++) {
            double mean = 0;
            for (int ni = 0; ni < n; ni++) {
                for (int i = 0; i < hw; i++) {
                    mean += x[(ni * c + ci) * hw + i];
                }
            }
            mean /= m;
            double var = 0;
            for (int ni = 0; ni < n; ni++) {
                for (int i = 0; i < hw; i++) {
                    double d = x[(ni * c + ci) * hw + i] - mean;
                    var += d * d;
                }
            }
            var /= m;
            double inv = 1 / Math.sqrt(var + eps);
            double sumG = 0;
            double sumGx = 0;
            for (int ni = 0; ni < n; ni++) {
                for (int i = 0; i < hw; i++) {
                    int j = (ni * c + ci) * hw + i;
                    double xh = (x[j] - mean) * inv;
                    y[j] = gamma[ci] * xh + beta[ci];
                    sumG += g[j];
                    sumGx += g[j] * xh;
                }
            }
            dgamma[ci] = sumGx;
            dbeta[ci] = sumG;
            for (int ni = 0; ni < n; ni++) {
                for (int i = 0; i < hw; i++) {
                    int j = (ni * c + ci) * hw + i;
                    double xh = (x[j] - mean) * inv;
                    dx[j] = gamma[ci] * inv / m * (m * g[j] - sumG - xh * sumGx);
                }
            }
        }
        return new double[][] {y, dx, dgamma, dbeta};
    }

    /** Batch normalisation with running statistics (inference). @return {y, dx} */
    static double[][] batchNormEval(
            double[] x,
            double[] gamma,
            double[] beta,
            double[] mean,
            double[] var,
            double[] g,
            int n,
            int c,
            int hw,
            double eps) {
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        for (int ni = 0; ni < n; ni++) {
            for (int ci = 0; ci < c; ci++) {
                double scale = gamma[ci] / Math.sqrt(var[ci] + eps);
                for (int i = 0; i < hw; i++) {
                    int j = (ni * c + ci) * hw + i;
                    y[j] = (x[j] - mean[ci]) * scale + beta[ci];
                    dx[j] = g[j] * scale;
                }
            }
        }
        return new double[][] {y, dx};
    }

    /** {@code y = x w^T + b} for x {@code [B, I]}, w {@code [O, I]}. @return {y, dx, dw, db} */
    static double[][] linear(double[] x, double[] w, double[] b, double[] g, int batch, int in, int out) {
        double[] y = new double[batch * out];
        double[] dx = new double[x.length];
        double[] dw = new double[w.length];
        double[] db = new double[out];
        for (int r = 0; r < batch; r++) {
            for (int o = 0; o < out; o++) {
                double s = b[o];
                double go = g[r * out + o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[o * in + i];
                    dx[r * in + i] += go * w[o * in + i];
                    dw[o * in + i] += go * x[r * in + i];
                }
                y[r * out + o] = s;
                db[o] += go;
            }
        }
        return new double[][] {y, dx, dw, db};
    }

    /** Batched {@code a @ b} for a {@code [B, M, K]}, b {@code [B, K, N]}. @return {y, da, db} */
    static double[][] matMul(double[] a, double[] b, double[] g, int batch, int m, int k, int n) {
        double[] y = new double[batch * m * n];
        double[] da = new double[a.length];
        double[] db = new double[b.length];
        for (int bi = 0; bi < batch; bi++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    int out = (bi * m + i) * n + j;
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        int ai = (bi * m + i) * k + p;
                        int bj = (bi * k + p) * n + j;
                        s += a[ai] * b[bj];
                        da[ai] += g[out] * b[bj];
                        db[bj] += g[out] * a[ai];
                    }
                    y[out] = s;
                }
            }
        }
        return new double[][] {y, da, db};
    }

    /** Max pooling with a square window, no padding. @return {y, dx} */
    static double[][] maxPool(double[] x, double[] g, int nc, int h, int w, int k, int stride) {
        int ho = convOut(h, k, stride, 0);
        int wo = convOut(w, k, stride, 0);
        double[] y = new double[nc * ho * wo];
        double[] dx = new double[x.length];
        for (int p = 0; p < nc; p++) {
            for (int yi = 0; yi < ho; yi++) {
                for (int xi = 0; xi < wo; xi++) {
                    int best = -1;
                    for (int ky = 0; ky < k; ky++) {
                        for (int kx = 0; kx < k; kx++) {
                            int j = (p * h + yi * stride + ky) * w + xi * stride + kx;
                            if (best < 0 || x[j] > x[best]) {
                                best = j;
                            }
                        }
                    }
                    int out = (p * ho + yi) * wo + xi;
                    y[out] = x[best];
                    dx[best] += g[out];
                }
            }
        }
        return new double[][] {y, dx};
    }

    /** Global average pooling of {@code [N*C, HW]}. @return {y, dx} */
    static double[][] globalAvgPool(double[] x, double[] g, int nc, int hw) {
        double[] y = new double[nc];
        double[] dx = new double[x.length];
        for (int p = 0; p < nc; p++) {
            double s = 0;
            for (int i = 0; i < hw; i++) {
                s += x[p * hw + i];
            }
            y[p] = s / hw;
            for (int i = 0; i < hw; i++) {
                dx[p * hw + i] = g[p] / hw;
            }
        }
        return new double[][] {y, dx};
    }

    /** ReLU. @return {y, dx} */
    static double[][] relu(double[] x, double[] g) {
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.max(x[i], 0);
            dx[i] = x[i] > 0 ? g[i] : 0;
        }
        return new double[][] {y, dx};
    }

    /** log(sum(exp(x[from .. from + k)))), shifted by the maximum so that nothing overflows. */
    static double logSumExp(double[] x, int from, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = from; j < from + k; j++) {
            max = Math.max(max, x[j]);
        }
        double z = 0;
        for (int j = from; j < from + k; j++) {
            z += Math.exp(x[j] - max);
        }
        return max + Math.log(z);
    }

    /** Softmax over the last axis of {@code [R, K]}. @return {y, dx} */
    static double[][] softmax(double[] x, double[] g, int rows, int k) {
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double logZ = logSumExp(x, r * k, k);
            double dot = 0;
            for (int j = 0; j < k; j++) {
                y[r * k + j] = Math.exp(x[r * k + j] - logZ);
                dot += g[r * k + j] * y[r * k + j];
            }
            for (int j = 0; j < k; j++) {
                dx[r * k + j] = y[r * k + j] * (g[r * k + j] - dot);
            }
        }
        return new double[][] {y, dx};
    }

    /**
     * Cross entropy of logits {@code [R, K]} against one-hot targets, per row: {@code -sum(t * logSoftmax(x))}.
     *
     * @return {loss per row, dx}
     */
    static double[][] softmaxCrossEntropy(double[] x, double[] target, double[] g, int rows, int k) {
        double[] y = new double[rows];
        double[] dx = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double logZ = logSumExp(x, r * k, k);
            double loss = 0;
            double tSum = 0;
            for (int j = 0; j < k; j++) {
                loss -= target[r * k + j] * (x[r * k + j] - logZ);
                tSum += target[r * k + j];
            }
            y[r] = loss;
            for (int j = 0; j < k; j++) {
                dx[r * k + j] = g[r] * (Math.exp(x[r * k + j] - logZ) * tSum - target[r * k + j]);
            }
        }
        return new double[][] {y, dx};
    }

    /** GELU with the exact (erf) form, as PyTorch computes it by default. @return {y, dx} */
    static double[][] gelu(double[] x, double[] g) {
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double cdf = 0.5 * (1 + erf(x[i] / Math.sqrt(2)));
            double pdf = Math.exp(-0.5 * x[i] * x[i]) / Math.sqrt(2 * Math.PI);
            y[i] = x[i] * cdf;
            dx[i] = g[i] * (cdf + x[i] * pdf);
        }
        return new double[][] {y, dx};
    }

    /** The error function to about 1e-15 (Taylor series near 0, continued fraction for the tail). */
    static double erf(double z) {
        double a = Math.abs(z);
        double r;
        if (a < 2.5) {
            double term = a;
            double sum = a;
            for (int n = 1; n < 60; n++) {
                term *= -a * a / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...)))), evaluated from the tail.
            double f = a;
            for (int n = 60; n >= 1; n--) {
                f = a + (n / 2.0) / f;
            }
            r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
        }
        return z < 0 ? -r : r;
    }
}
