package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;
import java.util.Random;

/**
 * Crops a random box of each image (area {@code scale} of the image, aspect ratio in {@code ratio}, as
 * torchvision's RandomResizedCrop chooses it) and resizes it bilinearly to the output size.
 *
 * <p>Batched as two matrix products, {@code out = Wy @ x @ Wx^T}, where row {@code o} of {@code Wy} holds the
 * bilinear weights of output row {@code o} over the input rows (a triangle kernel around the source
 * coordinate). The weights are built on the device from four numbers per image. A full-image box reproduces
 * the input exactly.
 */
public final class RandomResizedCrop implements Augmentation {
    private final int outHeight;
    private final int outWidth;
    private final double scaleMin;
    private final double scaleMax;
    private final double logRatioMin;
    private final double logRatioMax;

    public RandomResizedCrop(
            int outHeight, int outWidth, double scaleMin, double scaleMax, double ratioMin, double ratioMax) {
        if (!(0 < scaleMin && scaleMin <= scaleMax && scaleMax <= 1)) {
            throw new IllegalArgumentException("need 0 < scaleMin <= scaleMax <= 1, got " + scaleMin + ", " + scaleMax);
        }
        if (!(0 < ratioMin && ratioMin <= ratioMax)) {
            throw new IllegalArgumentException("need 0 < ratioMin <= ratioMax, got " + ratioMin + ", " + ratioMax);
        }
        this.outHeight = outHeight;
        this.outWidth = outWidth;
        this.scaleMin = scaleMin;
        this.scaleMax = scaleMax;
        this.logRatioMin = Math.log(ratioMin);
        this.logRatioMax = Math.log(ratioMax);
    }

    /** Square output, aspect ratios 3/4 to 4/3 as in torchvision. */
    public RandomResizedCrop(int size, double scaleMin, double scaleMax) {
        this(size, size, scaleMin, scaleMax, 3.0 / 4.0, 4.0 / 3.0);
    }

    /** A crop box in input pixels: top, left, height, width. */
    public record Box(double top, double left, double height, double width) {}

    /** Draws one box for an {@code h x w} image, as torchvision does: 10 tries, then the central crop. */
    public Box sample(int h, int w, Random rng) {
        double area = (double) h * w;
        for (int attempt = 0; attempt < 10; attempt++) {
            double target = area * (scaleMin + (scaleMax - scaleMin) * rng.nextDouble());
            double ratio = Math.exp(logRatioMin + (logRatioMax - logRatioMin) * rng.nextDouble());
            int cw = (int) Math.round(Math.sqrt(target * ratio));
            int ch = (int) Math.round(Math.sqrt(target / ratio));
            if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
                int top = rng.nextInt(h - ch + 1);
                int left = rng.nextInt(w - cw + 1);
                return new Box(top, left, ch, cw);
            }
        }
        double inRatio = (double) w / h;
        double minRatio = Math.exp(logRatioMin);
        double maxRatio = Math.exp(logRatioMax);
        int cw;
        int ch;
        if (inRatio < minRatio) {
            cw = w;
            ch = (int) Math.round(cw / minRatio);
        } else if (inRatio > maxRatio) {
            ch = h;
            cw = (int) Math.round(ch * maxRatio);
        } else {
            cw = w;
            ch = h;
        }
        return new Box((h - ch) / 2, (w - cw) / 2, ch, cw);
    }

    @Override
    public NDArray apply(NDArray images, Random rng) {
        Shape s = images.getShape();
        int b = (int) s.get(0);
        int h = (int) s.get(2);
        int w = (int) s.get(3);
        float[] tops = new float[b];
        float[] lefts = new float[b];
        float[] heights = new float[b];
        float[] widths = new float[b];
        for (int i = 0; i < b; i++) {
            Box box = sample(h, w, rng);
            tops[i] = (float) box.top();
            lefts[i] = (float) box.left();
            heights[i] = (float) box.height();
            widths[i] = (float) box.width();
        }
        return crop(images, tops, lefts, heights, widths, outHeight, outWidth);
    }

    /** Crops the given boxes (one per image) and resizes them to {@code oh x ow}. */
    public static NDArray crop(
            NDArray images, float[] tops, float[] lefts, float[] heights, float[] widths, int oh, int ow) {
        Shape s = images.getShape();
        int h = (int) s.get(2);
        int w = (int) s.get(3);
        NDManager m = images.getManager();
        NDArray wy = weights(m, images, tops, heights, h, oh); // [B, oh, H]
        NDArray wx = weights(m, images, lefts, widths, w, ow); // [B, ow, W]
        return wy.expandDims(1).matMul(images).matMul(wx.transpose(0, 2, 1).expandDims(1));
    }

    /** Bilinear weights {@code [B, out, in]} of each output coordinate over the input coordinates. */
    private static NDArray weights(NDManager m, NDArray like, float[] starts, float[] lengths, int in, int out) {
        int b = starts.length;
        NDArray start = m.create(starts, new Shape(b, 1, 1)).toDevice(like.getDevice(), false);
        NDArray length = m.create(lengths, new Shape(b, 1, 1)).toDevice(like.getDevice(), false);
        NDArray o = m.arange(0f, out, 1f).toDevice(like.getDevice(), false).reshape(1, out, 1);
        // Source coordinate of output pixel centre o (align_corners=False), clamped to the box: the resize sees
        // only the cropped pixels, as torchvision's crop-then-resize does.
        NDArray src = o.add(0.5f)
                .mul(Scalars.div(length, out))
                .addi(start)
                .subi(0.5f)
                .maximum(start)
                .minimum(start.add(length).subi(1f))
                .clip(0f, in - 1f);
        NDArray grid = m.arange(0f, in, 1f).toDevice(like.getDevice(), false).reshape(1, 1, in);
        return src.sub(grid).abs().neg().addi(1f).clip(0f, 1f);
    }
}
