package dev.selfsup.core.model;

import java.util.Arrays;
import java.util.Locale;

/**
 * What an encoder is, enough to build it again from scratch: its architecture and the input it expects.
 * Saved with every checkpoint and exported encoder.
 *
 * @param type {@link #SMALL_CONVNET} or {@link #RESNET18}
 * @param width channels of the first stage
 * @param depth 3x3 conv layers per stage (small ConvNet); ignored by ResNet-18
 * @param channels input channels (1 or 3)
 * @param imageSize side of the square input in pixels
 * @param mean per-channel mean the network subtracts from its [0, 1] input
 * @param std per-channel standard deviation it divides by
 */
public record BackboneSpec(String type, int width, int depth, int channels, int imageSize, float[] mean,
        float[] std) {
    /** A VGG-style ConvNet of three stages; fast enough to pretrain on a CPU. */
    public static final String SMALL_CONVNET = "small-convnet";
    /** ResNet-18 for 32 px images: 3x3 stem, no max-pool, basic blocks. For GPUs. */
    public static final String RESNET18 = "resnet18";

    public BackboneSpec {
        type = type.toLowerCase(Locale.ROOT);
        if (!SMALL_CONVNET.equals(type) && !RESNET18.equals(type)) {
            throw new IllegalArgumentException("unknown backbone '" + type + "': use " + SMALL_CONVNET + " or " + RESNET18);
        }
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        }
        if (width <= 0 || depth <= 0 || imageSize < 8) {
            throw new IllegalArgumentException("bad backbone size: width " + width + ", depth " + depth + ", image " + imageSize);
        }
        if (mean.length != channels || std.length != channels) {
            throw new IllegalArgumentException("mean and std need one value per channel");
        }
    }

    /** The default for a dataset: the small ConvNet of width 64, depth 2, normalised by the given statistics. */
    public static BackboneSpec smallConvNet(int channels, int imageSize, float[] mean, float[] std) {
        return new BackboneSpec(SMALL_CONVNET, 64, 2, channels, imageSize, mean, std);
    }

    public BackboneSpec withType(String newType) {
        return new BackboneSpec(newType, RESNET18.equals(newType.toLowerCase(Locale.ROOT)) ? 64 : width, depth, channels,
                imageSize, mean, std);
    }

    public BackboneSpec withWidth(int newWidth) {
        return new BackboneSpec(type, newWidth, depth, channels, imageSize, mean, std);
    }

    public BackboneSpec withDepth(int newDepth) {
        return new BackboneSpec(type, width, newDepth, channels, imageSize, mean, std);
    }

    /** The size of the representation h. */
    public int featureDim() {
        return RESNET18.equals(type) ? 8 * width : 4 * width;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BackboneSpec b && type.equals(b.type) && width == b.width && depth == b.depth
                && channels == b.channels && imageSize == b.imageSize && Arrays.equals(mean, b.mean)
                && Arrays.equals(std, b.std);
    }

    @Override
    public int hashCode() {
        return type.hashCode() * 31 + width * 17 + depth * 13 + channels * 7 + imageSize + Arrays.hashCode(mean)
                + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return type + "(width=" + width + (SMALL_CONVNET.equals(type) ? ", depth=" + depth : "") + ", input="
                + channels + "x" + imageSize + "x" + imageSize + ")";
    }
}
