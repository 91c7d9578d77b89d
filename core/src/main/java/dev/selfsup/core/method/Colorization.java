package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.augment.RandomResizedCrop;
import dev.selfsup.core.color.AbBins;
import dev.selfsup.core.color.Lab;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.BatchNorm;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Colorization (Zhang et al. 2016): the encoder sees only the lightness L of an image and predicts, for every
 * cell of its last feature map, a distribution over quantized ab colours. The loss is the cross entropy against
 * soft-encoded true colours, weighted per pixel by class rebalancing so rare saturated colours count. Pictures
 * are decoded by the annealed mean.
 *
 * <p>The exported encoder takes RGB like any other and computes L itself in its first layer
 * ({@link BackboneSpec#LIGHTNESS}), so it cannot see colour, in training or in use.
 */
public final class Colorization extends EncoderMethod {
    /** Colorization, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "colorization",
                    "pretext: predict an image's colours from its lightness (Zhang et al. 2016)",
                    new Settings(0.5f),
                    (s, c) -> {
                        float[][] stats = lightnessStats(c.data(), c.seed());
                        return new Colorization(
                                c.spec().withInput(BackboneSpec.LIGHTNESS, stats[0], stats[1]),
                                AugmentationPipeline.cropFlip(c.spec().imageSize(), s.cropScaleMin()),
                                256);
                    })
            .withCheck((s, spec, data) -> {
                if (spec.isVit()) {
                    throw new IllegalArgumentException("backbone: colorization predicts colours per pixel from a "
                            + "ConvNet's feature map; use small-convnet or resnet18, not " + spec.type());
                }
                requireColour(data);
            });

    /**
     * Colorization's settings.
     *
     * @param cropScaleMin smallest area fraction of the random resized crop; at least half the image by default,
     *     so most of its colours stay in view
     */
    public record Settings(float cropScaleMin) {
        public Settings {
            SettingChecks.requireCropScale(cropScaleMin);
        }
    }

    /** ab bin width, as in the paper. */
    public static final int BIN_STEP = 10;
    /** Weight of the uniform distribution in the rebalancing, as in the paper. */
    public static final double LAMBDA = 0.5;
    /** Nearest classes of the soft encoding. */
    public static final int NEIGHBOURS = 5;
    /** Temperature of the annealed mean. */
    public static final float ANNEALED_T = 0.38f;

    private static final int PRIOR_IMAGES = 5000;

    private final Augmentation augment;
    private final int hidden;
    private final SequentialBlock trunk;
    private AbBins bins;

    /**
     * @param spec a {@link BackboneSpec#LIGHTNESS} spec
     * @param augment the augmentation of the RGB images before L and ab are taken
     */
    public Colorization(BackboneSpec spec, Augmentation augment, int hidden) {
        super("colorization", spec, Backbones.build(spec));
        if (!BackboneSpec.LIGHTNESS.equals(spec.input())) {
            throw new IllegalArgumentException("colorization needs a lightness backbone");
        }
        this.augment = augment;
        this.hidden = hidden;
        this.trunk = Backbones.trunk(encoder);
    }

    /**
     * Fails unless {@code data} has colour: three channels, and more than a trace of chroma (grayscale pictures
     * stored as RGB are refused too). Looks at up to 500 images.
     */
    public static void requireColour(ImageDataset data) {
        if (data.channels() != 3) {
            throw new UnsuitableDataException("colorization needs colour images: dataset '" + data.name() + "' has "
                    + data.channels() + " channel (grayscale); use an RGB dataset (CIFAR binary or an image folder)");
        }
        int n = Math.min(500, data.size());
        long coloured = 0;
        long total = 0;
        for (int k = 0; k < n; k++) {
            int i = (int) ((long) k * data.size() / n);
            byte[] img = data.image(i);
            int plane = data.height() * data.width();
            for (int at = 0; at < plane; at++) {
                int r = img[at] & 0xff;
                int g = img[plane + at] & 0xff;
                int b = img[2 * plane + at] & 0xff;
                if (Math.abs(r - g) + Math.abs(g - b) > 12) {
                    coloured++;
                }
                total++;
            }
        }
        if (coloured < total / 200) {
            throw new UnsuitableDataException("colorization needs colour images: dataset '" + data.name()
                    + "' is RGB but " + String.format("%.1f", 100.0 * (total - coloured) / total)
                    + "% of its pixels are grey");
        }
    }

    /** Mean and standard deviation of L/100 over (a sample of) the dataset: the lightness input's statistics. */
    public static float[][] lightnessStats(ImageDataset data, long seed) {
        requireColour(data);
        SplittableRandom rng = new SplittableRandom(seed);
        int n = Math.min(PRIOR_IMAGES, data.size());
        double sum = 0;
        double sq = 0;
        long count = 0;
        for (int k = 0; k < n; k++) {
            int i = n == data.size() ? k : rng.nextInt(data.size());
            byte[] img = data.image(i);
            int plane = data.height() * data.width();
            for (int at = 0; at < plane; at++) {
                double l = Lab.fromRgb(
                                (img[at] & 0xff) / 255.0,
                                (img[plane + at] & 0xff) / 255.0,
                                (img[2 * plane + at] & 0xff) / 255.0)[0]
                        / 100.0;
                sum += l;
                sq += l * l;
                count++;
            }
        }
        double mean = sum / count;
        double std = Math.sqrt(Math.max(1e-6, sq / count - mean * mean));
        return new float[][] {{(float) mean}, {(float) Math.max(1e-3, std)}};
    }

    /** The colour classes, known once {@link #prepare} has seen the data. */
    public AbBins bins() {
        return bins;
    }

    @Override
    public void prepare(ImageDataset data, NDManager manager) {
        requireColour(data);
        if (bins != null) {
            return;
        }
        bins = AbBins.fromData(data, BIN_STEP, PRIOR_IMAGES, LAMBDA, 17);
        SequentialBlock head = new SequentialBlock()
                .add(Conv2d.builder()
                        .setKernelShape(new Shape(3, 3))
                        .optPadding(new Shape(1, 1))
                        .setFilters(hidden)
                        .optBias(false)
                        .build())
                .add(new BatchNorm())
                .add(Activation.reluBlock())
                .add(Conv2d.builder()
                        .setKernelShape(new Shape(1, 1))
                        .setFilters(bins.size())
                        .build());
        model.add(trunk).add(head);
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        if (bins == null) {
            throw new IllegalStateException("colorization: prepare() must see the data before initialize()");
        }
        model.initialize(manager, DataType.FLOAT32, new Shape(2).addAll(imageShape));
    }

    /** Logits {@code [B, Q, h, w]} over the colour classes for each cell of the last feature map. */
    private NDArray logits(ParameterStore ps, NDArray rgb, boolean training) {
        return model.forward(ps, new NDList(rgb), training).singletonOrThrow();
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        NDArray x = augment.apply(images, ctx.rng());
        NDArray logits = ctx.forward(model, x);
        int q = bins.size();
        NDArray ab = trueAb(x, (int) logits.getShape().get(2));
        NDArray flatLogits = logits.transpose(0, 2, 3, 1).reshape(-1, q);
        NDArray target = bins.softTargets(ab, NEIGHBOURS);
        NDArray weight = bins.pixelWeights(ab);
        return flatLogits
                .logSoftmax(1)
                .mul(target)
                .sum(new int[] {1})
                .neg()
                .mul(weight)
                .mean();
    }

    /** The true ab of each feature-map cell, averaged over the pixels it covers: {@code [B * h * w, 2]}. */
    private static NDArray trueAb(NDArray rgb, int cells) {
        long side = rgb.getShape().get(2);
        if (side % cells != 0) {
            throw new IllegalStateException("image side " + side + " is not a multiple of the feature map's " + cells);
        }
        NDArray ab = Lab.fromRgb(rgb).get(":, 1:3");
        int k = (int) (side / cells);
        NDArray pooled =
                k == 1 ? ab : Pool.avgPool2d(ab, new Shape(k, k), new Shape(k, k), new Shape(0, 0), false, true);
        return pooled.transpose(0, 2, 3, 1).reshape(-1, 2);
    }

    /**
     * Colours images from their lightness: L of the input, ab by the annealed mean of the prediction, upsampled
     * bilinearly to the image. Inference mode.
     *
     * @param rgb float32 {@code [B, 3, H, W]} in [0, 1]
     * @return float32 {@code [B, 3, H, W]} in [0, 1]
     */
    public NDArray colorize(ParameterStore ps, NDArray rgb) {
        NDArray logits = logits(ps, rgb, false);
        long b = logits.getShape().get(0);
        int h = (int) logits.getShape().get(2);
        int w = (int) logits.getShape().get(3);
        NDArray ab = bins.annealedMean(logits.transpose(0, 2, 3, 1).reshape(-1, bins.size()), ANNEALED_T)
                .reshape(b, h, w, 2)
                .transpose(0, 3, 1, 2);
        int oh = (int) rgb.getShape().get(2);
        int ow = (int) rgb.getShape().get(3);
        float[] zeros = new float[(int) b];
        float[] hs = new float[(int) b];
        float[] ws = new float[(int) b];
        Arrays.fill(hs, h);
        Arrays.fill(ws, w);
        NDArray up = RandomResizedCrop.crop(ab, zeros, zeros, hs, ws, oh, ow);
        NDArray l = Lab.fromRgb(rgb).get(":, 0:1");
        return Lab.toRgb(NDArrays.concat(new NDList(l, up), 1));
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("ab_bin_step", BIN_STEP);
        h.put("ab_classes", bins == null ? 0 : bins.size());
        h.put("rebalance_lambda", LAMBDA);
        h.put("soft_encoding_neighbours", NEIGHBOURS);
        h.put("annealed_mean_t", ANNEALED_T);
        h.put("head_hidden", hidden);
        return h;
    }
}
