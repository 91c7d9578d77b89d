package dev.selfsup.core.color;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import dev.selfsup.core.engine.Scalars;

/**
 * CIE L*a*b* (D65 white, sRGB primaries) for batches of images, as tensor operations on their device, and for
 * single pixels on the host. L is in [0, 100]; a and b are roughly in [-110, 110].
 */
public final class Lab {
    private static final double DELTA = 6.0 / 29.0;
    private static final double XN = 0.95047;
    private static final double YN = 1.0;
    private static final double ZN = 1.08883;
    private static final double[][] RGB_TO_XYZ = {
        {0.4124564, 0.3575761, 0.1804375},
        {0.2126729, 0.7151522, 0.0721750},
        {0.0193339, 0.1191920, 0.9503041}
    };
    private static final double[][] XYZ_TO_RGB = {
        {3.2404542, -1.5371385, -0.4985314},
        {-0.9692660, 1.8760108, 0.0415560},
        {0.0556434, -0.2040259, 1.0572252}
    };

    private Lab() {}

    /** sRGB {@code [B, 3, H, W]} in [0, 1] to Lab {@code [B, 3, H, W]}. */
    public static NDArray fromRgb(NDArray rgb) {
        NDArray lin = toLinear(rgb.clip(0f, 1f));
        NDArray[] xyz = mix(lin, RGB_TO_XYZ);
        NDArray fx = f(Scalars.divi(xyz[0], (float) XN));
        NDArray fy = f(Scalars.divi(xyz[1], (float) YN));
        NDArray fz = f(Scalars.divi(xyz[2], (float) ZN));
        NDArray l = Scalars.mul(fy, 116f).subi(16f);
        NDArray a = Scalars.muli(fx.sub(fy), 500f);
        NDArray b = Scalars.muli(fy.sub(fz), 200f);
        return NDArrays.concat(new NDList(l, a, b), 1);
    }

    /** Lab {@code [B, 3, H, W]} to sRGB in [0, 1] (out-of-gamut colours are clipped). */
    public static NDArray toRgb(NDArray lab) {
        NDArray l = lab.get(":, 0:1");
        NDArray fy = Scalars.divi(l.add(16f), 116f);
        NDArray fx = fy.add(Scalars.div(lab.get(":, 1:2"), 500f));
        NDArray fz = fy.sub(Scalars.div(lab.get(":, 2:3"), 200f));
        NDArray x = Scalars.muli(fInverse(fx), (float) XN);
        NDArray y = Scalars.muli(fInverse(fy), (float) YN);
        NDArray z = Scalars.muli(fInverse(fz), (float) ZN);
        NDArray[] rgbLinear = mix(NDArrays.concat(new NDList(x, y, z), 1), XYZ_TO_RGB);
        return fromLinear(NDArrays.concat(new NDList(rgbLinear), 1).clip(0f, 1f));
    }

    /** The lightness L/100 in [0, 1] of sRGB images: {@code [B, 3, H, W]} to {@code [B, 1, H, W]}. */
    public static NDArray lightness(NDArray rgb) {
        NDArray lin = toLinear(rgb.clip(0f, 1f));
        NDArray y = mix(lin, RGB_TO_XYZ)[1];
        return Scalars.muli(f(y), 1.16f).subi(0.16f);
    }

    private static NDArray toLinear(NDArray c) {
        NDArray low = Scalars.div(c, 12.92f);
        NDArray high = Scalars.powi(Scalars.divi(c.add(0.055f), 1.055f), 2.4f);
        return NDArrays.where(c.lte(0.04045f), low, high);
    }

    private static NDArray fromLinear(NDArray c) {
        NDArray low = Scalars.mul(c, 12.92f);
        NDArray high = Scalars.muli(Scalars.pow(c, 1f / 2.4f), 1.055f).subi(0.055f);
        return NDArrays.where(c.lte(0.0031308f), low, high);
    }

    private static NDArray f(NDArray t) {
        NDArray cube = Scalars.pow(t.clip(0f, Float.MAX_VALUE), 1f / 3f);
        NDArray linear = Scalars.div(t, (float) (3 * DELTA * DELTA)).addi((float) (4.0 / 29.0));
        return NDArrays.where(t.gt((float) (DELTA * DELTA * DELTA)), cube, linear);
    }

    private static NDArray fInverse(NDArray u) {
        NDArray cube = Scalars.pow(u, 3f);
        NDArray linear = Scalars.muli(u.sub((float) (4.0 / 29.0)), (float) (3 * DELTA * DELTA));
        return NDArrays.where(u.gt((float) DELTA), cube, linear);
    }

    /** The three channels of {@code [B, 3, H, W]} mixed by a 3x3 matrix, as three {@code [B, 1, H, W]} arrays. */
    private static NDArray[] mix(NDArray x, double[][] m) {
        NDArray c0 = x.get(":, 0:1");
        NDArray c1 = x.get(":, 1:2");
        NDArray c2 = x.get(":, 2:3");
        NDArray[] out = new NDArray[3];
        for (int r = 0; r < 3; r++) {
            out[r] = Scalars.mul(c0, (float) m[r][0])
                    .addi(Scalars.mul(c1, (float) m[r][1]))
                    .addi(Scalars.mul(c2, (float) m[r][2]));
        }
        return out;
    }

    // ---- one pixel on the host -------------------------------------------------------------------------------

    /** One sRGB pixel in [0, 1] to {L, a, b}. */
    public static double[] fromRgb(double r, double g, double b) {
        double[] lin = {toLinear(r), toLinear(g), toLinear(b)};
        double[] xyz = new double[3];
        for (int i = 0; i < 3; i++) {
            xyz[i] = RGB_TO_XYZ[i][0] * lin[0] + RGB_TO_XYZ[i][1] * lin[1] + RGB_TO_XYZ[i][2] * lin[2];
        }
        double fx = f(xyz[0] / XN);
        double fy = f(xyz[1] / YN);
        double fz = f(xyz[2] / ZN);
        return new double[] {116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)};
    }

    /** One Lab pixel to sRGB {r, g, b} in [0, 1] (clipped). */
    public static double[] toRgb(double l, double a, double b) {
        double fy = (l + 16) / 116;
        double[] xyz = {fInverse(fy + a / 500) * XN, fInverse(fy) * YN, fInverse(fy - b / 200) * ZN};
        double[] rgb = new double[3];
        for (int i = 0; i < 3; i++) {
            double lin = XYZ_TO_RGB[i][0] * xyz[0] + XYZ_TO_RGB[i][1] * xyz[1] + XYZ_TO_RGB[i][2] * xyz[2];
            lin = Math.max(0, Math.min(1, lin));
            rgb[i] = lin <= 0.0031308 ? 12.92 * lin : 1.055 * Math.pow(lin, 1 / 2.4) - 0.055;
        }
        return rgb;
    }

    private static double toLinear(double c) {
        c = Math.max(0, Math.min(1, c));
        return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    }

    private static double f(double t) {
        return t > DELTA * DELTA * DELTA ? Math.cbrt(t) : t / (3 * DELTA * DELTA) + 4.0 / 29.0;
    }

    private static double fInverse(double u) {
        return u > DELTA ? u * u * u : 3 * DELTA * DELTA * (u - 4.0 / 29.0);
    }
}
