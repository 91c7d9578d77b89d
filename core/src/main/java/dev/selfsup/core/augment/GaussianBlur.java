package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import java.util.Random;

/**
 * Blurs each image with probability {@code p} by a Gaussian of random sigma in [sigmaMin, sigmaMax].
 *
 * <p>Batched as two separable depthwise convolutions with one kernel per image (groups = B x C). Borders are
 * normalised by the blurred all-ones image, so edges are not darkened by the zero padding.
 */
public final class GaussianBlur implements Augmentation {
    private final int kernelSize;
    private final double sigmaMin;
    private final double sigmaMax;
    private final double p;

    public GaussianBlur(int kernelSize, double sigmaMin, double sigmaMax, double p) {
        if (kernelSize < 3 || kernelSize % 2 == 0) {
            throw new IllegalArgumentException("kernel size must be odd and >= 3, got " + kernelSize);
        }
        this.kernelSize = kernelSize;
        this.sigmaMin = sigmaMin;
        this.sigmaMax = sigmaMax;
        this.p = p;
    }

    /** A normalised 1-D Gaussian kernel; sigma 0 gives the identity kernel. */
    public static float[] kernel(int size, double sigma) {
        float[] k = new float[size];
        int r = size / 2;
        if (sigma <= 0) {
            k[r] = 1f;
            return k;
        }
        double sum = 0;
        for (int i = 0; i < size; i++) {
            double v = Math.exp(-((i - r) * (i - r)) / (2 * sigma * sigma));
            k[i] = (float) v;
            sum += v;
        }
        for (int i = 0; i < size; i++) {
            k[i] /= (float) sum;
        }
        return k;
    }

    @Override
    public NDArray apply(NDArray images, Random rng) {
        Shape s = images.getShape();
        int b = (int) s.get(0);
        int c = (int) s.get(1);
        int h = (int) s.get(2);
        int w = (int) s.get(3);
        float[] kernels = new float[b * c * kernelSize];
        for (int i = 0; i < b; i++) {
            double sigma = rng.nextDouble() < p ? sigmaMin + (sigmaMax - sigmaMin) * rng.nextDouble() : 0;
            float[] k = kernel(kernelSize, sigma);
            for (int ch = 0; ch < c; ch++) {
                System.arraycopy(k, 0, kernels, (i * c + ch) * kernelSize, kernelSize);
            }
        }
        NDManager m = images.getManager();
        NDArray k = m.create(kernels, new Shape(b * c, 1, kernelSize, 1)).toDevice(images.getDevice(), false);
        NDArray x = images.reshape(1, (long) b * c, h, w);
        NDArray ones = m.ones(new Shape(1, (long) b * c, h, w)).toDevice(images.getDevice(), false);
        NDArray blurred = blur(x, k, b * c);
        NDArray norm = blur(ones, k, b * c);
        return blurred.divi(norm).reshape(s).clip(0f, 1f);
    }

    private NDArray blur(NDArray x, NDArray k, int groups) {
        int r = kernelSize / 2;
        NDArray v = Conv2d.conv2d(x, k, null, new Shape(1, 1), new Shape(r, 0), new Shape(1, 1), groups)
                .singletonOrThrow();
        return Conv2d.conv2d(
                        v, k.transpose(0, 1, 3, 2), null, new Shape(1, 1), new Shape(0, r), new Shape(1, 1), groups)
                .singletonOrThrow();
    }
}
