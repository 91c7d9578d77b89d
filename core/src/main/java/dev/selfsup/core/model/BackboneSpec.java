package dev.selfsup.core.model;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What an encoder is, enough to build it again from scratch: its architecture and the input it expects.
 * Saved with every checkpoint and exported encoder.
 *
 * @param type one of {@link #TYPES}: the name of a {@link BackboneDefinition} in {@link Backbones#ALL}
 * @param width channels of the first stage
 * @param depth 3x3 conv layers per stage (small ConvNet), or the ViT's blocks; ignored by the ResNets
 * @param channels input channels (1 or 3)
 * @param imageSize side of the square input in pixels
 * @param mean per-channel mean the network subtracts from its [0, 1] input
 * @param std per-channel standard deviation it divides by (of the network's input: one value for
 *     {@link #LIGHTNESS})
 * @param input what the network computes from the pixels first: {@link #PIXELS} (the pixels as they are) or
 *     {@link #LIGHTNESS} (the CIE L channel only, for colorization: the encoder never sees colour)
 */
public record BackboneSpec(
        String type, int width, int depth, int channels, int imageSize, float[] mean, float[] std, String input) {
    /** The network sees the image's channels as they are. */
    public static final String PIXELS = "pixels";
    /** The network sees only the CIE L* lightness of its RGB input, scaled to [0, 1]. */
    public static final String LIGHTNESS = "lightness";

    // The names of the backbones in Backbones.ALL, for code that builds a spec of one of them.
    /** See {@link Backbones#ALL}. */
    public static final String SMALL_CONVNET = "small-convnet";
    /** See {@link Backbones#ALL}. */
    public static final String SMALL_CONVNET_GRID = "small-convnet-grid";
    /** See {@link Backbones#ALL}. */
    public static final String RESNET18 = "resnet18";
    /** See {@link Backbones#ALL}. */
    public static final String RESNET18_IMAGENET = "resnet18-imagenet";
    /** See {@link Backbones#ALL}. */
    public static final String RESNET50 = "resnet50";
    /** See {@link Backbones#ALL}. */
    public static final String VIT = "vit";
    /** See {@link Backbones#ALL}. */
    public static final String VIT_CLS = "vit-cls";

    /** The backbone types, in the order the API lists them (the names of {@link Backbones#ALL}). */
    public static final List<String> TYPES = Backbones.names();

    /** The width a backbone gets when none is asked for (the small ConvNet's was measured on a 2-core CPU). */
    public static int defaultWidth(String type) {
        return Backbones.get(type.toLowerCase(Locale.ROOT)).defaultWidth();
    }

    /** The depth a backbone gets when none is asked for: conv layers per stage, or the ViT's blocks. */
    public static int defaultDepth(String type) {
        return Backbones.get(type.toLowerCase(Locale.ROOT)).defaultDepth();
    }

    /** A spec whose network sees the pixels as they are. */
    public BackboneSpec(String type, int width, int depth, int channels, int imageSize, float[] mean, float[] std) {
        this(type, width, depth, channels, imageSize, mean, std, PIXELS);
    }

    public BackboneSpec {
        type = type.toLowerCase(Locale.ROOT);
        input = input == null ? PIXELS : input.toLowerCase(Locale.ROOT); // bundles written before the field existed
        if (!PIXELS.equals(input) && !LIGHTNESS.equals(input)) {
            throw new IllegalArgumentException(
                    "unknown backbone input '" + input + "': use " + PIXELS + " or " + LIGHTNESS);
        }
        if (!TYPES.contains(type)) {
            throw new IllegalArgumentException(
                    "unknown backbone '" + type + "': use one of " + String.join(", ", TYPES));
        }
        if (Backbones.get(type).vit() && imageSize % (imageSize <= 64 ? 4 : 16) != 0) {
            throw new IllegalArgumentException("a ViT needs an image side divisible by its patch ("
                    + (imageSize <= 64 ? 4 : 16) + " px), got " + imageSize);
        }
        if (LIGHTNESS.equals(input) && channels != 3) {
            throw new IllegalArgumentException("a lightness input needs RGB images, got " + channels + " channel(s)");
        }
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        }
        if (width <= 0 || depth <= 0 || imageSize < 8) {
            throw new IllegalArgumentException(
                    "bad backbone size: width " + width + ", depth " + depth + ", image " + imageSize);
        }
        if (mean.length != networkChannels(channels, input) || std.length != networkChannels(channels, input)) {
            throw new IllegalArgumentException("mean and std need one value per channel");
        }
    }

    public BackboneSpec withWidth(int newWidth) {
        return new BackboneSpec(type, newWidth, depth, channels, imageSize, mean, std, input);
    }

    public BackboneSpec withDepth(int newDepth) {
        return new BackboneSpec(type, width, newDepth, channels, imageSize, mean, std, input);
    }

    /** Channels the convolutions see: 1 for a lightness input, else the image's. */
    public int networkChannels() {
        return networkChannels(channels, input);
    }

    private static int networkChannels(int channels, String input) {
        return LIGHTNESS.equals(input) ? 1 : channels;
    }

    /** The same network, reading the given input. */
    public BackboneSpec withInput(String newInput, float[] newMean, float[] newStd) {
        return new BackboneSpec(type, width, depth, channels, imageSize, newMean, newStd, newInput);
    }

    /** The size of the representation h. */
    public int featureDim() {
        return Backbones.get(type).featuresPerWidth() * width;
    }

    /** Is this a Vision Transformer? */
    public boolean isVit() {
        return Backbones.get(type).vit();
    }

    /** ViT patch side: 4 px for images up to 64 px (a 7x7 grid at 28, 8x8 at 32), 16 px above (14x14 at 224). */
    public int vitPatchSize() {
        return vitPatchSize(imageSize);
    }

    /** The ViT patch side for images of side {@code imageSize}; BEiT's tokenizer cuts its patches the same way. */
    public static int vitPatchSize(int imageSize) {
        return imageSize <= 64 ? 4 : 16;
    }

    /** ViT attention heads: 32-wide heads for small widths, 64-wide from 384 on (ViT-S and up). */
    public int vitHeads() {
        return width >= 384 ? width / 64 : Math.max(1, width / 32);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BackboneSpec b
                && type.equals(b.type)
                && width == b.width
                && depth == b.depth
                && channels == b.channels
                && imageSize == b.imageSize
                && Arrays.equals(mean, b.mean)
                && Arrays.equals(std, b.std)
                && input.equals(b.input);
    }

    @Override
    public int hashCode() {
        return type.hashCode() * 31
                + width * 17
                + depth * 13
                + channels * 7
                + imageSize
                + Arrays.hashCode(mean)
                + Arrays.hashCode(std)
                + input.hashCode();
    }

    @Override
    public String toString() {
        return type + "(width=" + width + (type.startsWith(SMALL_CONVNET) ? ", depth=" + depth : "") + ", input="
                + channels + "x" + imageSize + "x" + imageSize + (LIGHTNESS.equals(input) ? ", lightness" : "") + ")";
    }
}
