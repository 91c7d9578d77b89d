package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;

/**
 * With probability {@code p}, changes each image's brightness, contrast, saturation and hue by random factors
 * (brightness 0.4 means a factor in [0.6, 1.4], as in torchvision's ColorJitter).
 *
 * <p>The four changes are applied in that fixed order (torchvision shuffles it; the order matters little and a
 * fixed one keeps the op batched). Saturation and hue act on colour images only. Hue is rotated in the YIQ
 * colour space, a linear stand-in for the HSV hue shift that is one 3x3 matrix per image.
 */
public final class ColorJitter implements Augmentation {
    private final double brightness;
    private final double contrast;
    private final double saturation;
    private final double hue;
    private final double p;

    public ColorJitter(double brightness, double contrast, double saturation, double hue, double p) {
        if (brightness < 0 || contrast < 0 || saturation < 0 || hue < 0 || hue > 0.5) {
            throw new IllegalArgumentException("jitter strengths must be >= 0 and hue <= 0.5");
        }
        this.brightness = brightness;
        this.contrast = contrast;
        this.saturation = saturation;
        this.hue = hue;
        this.p = p;
    }

    @Override
    public NDArray apply(NDArray images, Random rng) {
        Shape s = images.getShape();
        int b = (int) s.get(0);
        boolean colour = s.get(1) == 3;
        float[] bf = new float[b];
        float[] cf = new float[b];
        float[] sf = new float[b];
        float[] hf = new float[b];
        for (int i = 0; i < b; i++) {
            boolean on = rng.nextDouble() < p;
            bf[i] = on ? factor(brightness, rng) : 1f;
            cf[i] = on ? factor(contrast, rng) : 1f;
            sf[i] = on ? factor(saturation, rng) : 1f;
            hf[i] = on ? (float) ((rng.nextDouble() * 2 - 1) * hue) : 0f;
        }
        NDManager m = images.getManager();
        Shape perImage = new Shape(b, 1, 1, 1);
        NDArray x = images.mul(column(m, images, bf, perImage)).clip(0f, 1f);
        NDArray grey = Luma.of(x);
        NDArray mean = grey.reshape(b, -1).mean(new int[] {1}).reshape(perImage); // DJL means over one axis at a time
        NDArray cfa = column(m, images, cf, perImage);
        x = x.sub(mean).muli(cfa).addi(mean).clip(0f, 1f);
        if (colour) {
            NDArray g = Luma.of(x);
            x = x.sub(g).muli(column(m, images, sf, perImage)).addi(g).clip(0f, 1f);
            if (hue > 0) {
                x = rotateHue(m, x, hf).clip(0f, 1f);
            }
        }
        return x;
    }

    private static float factor(double strength, Random rng) {
        return (float) Math.max(0, 1 - strength + 2 * strength * rng.nextDouble());
    }

    private static NDArray column(NDManager m, NDArray like, float[] v, Shape shape) {
        return m.create(v, shape).toDevice(like.getDevice(), false);
    }

    // RGB <-> YIQ (FCC NTSC).
    private static final double[][] TO_YIQ = {{0.299, 0.587, 0.114}, {0.596, -0.274, -0.322}, {0.211, -0.523, 0.312}};
    private static final double[][] FROM_YIQ = {{1.0, 0.956, 0.621}, {1.0, -0.272, -0.647}, {1.0, -1.106, 1.703}};

    /** Rotates the I/Q plane by {@code 2 pi shift} radians, per image: one [3x3] matrix each. */
    private static NDArray rotateHue(NDManager m, NDArray x, float[] shift) {
        int b = shift.length;
        float[] mats = new float[b * 9];
        for (int i = 0; i < b; i++) {
            double a = 2 * Math.PI * shift[i];
            double c = Math.cos(a);
            double sn = Math.sin(a);
            double[][] rot = {{1, 0, 0}, {0, c, -sn}, {0, sn, c}};
            double[][] t = mul(FROM_YIQ, mul(rot, TO_YIQ));
            for (int r = 0; r < 3; r++) {
                for (int k = 0; k < 3; k++) {
                    mats[i * 9 + r * 3 + k] = (float) t[r][k];
                }
            }
        }
        Shape s = x.getShape();
        NDArray mat = m.create(mats, new Shape(b, 3, 3)).toDevice(x.getDevice(), false);
        return mat.matMul(x.reshape(b, 3, s.get(2) * s.get(3))).reshape(s);
    }

    private static double[][] mul(double[][] a, double[][] b) {
        double[][] c = new double[3][3];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                for (int k = 0; k < 3; k++) {
                    c[i][j] += a[i][k] * b[k][j];
                }
            }
        }
        return c;
    }
}
