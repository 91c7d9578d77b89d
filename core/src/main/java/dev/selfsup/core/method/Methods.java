package dev.selfsup.core.method;

import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.PretrainConfig;
import java.util.List;

/** Builds a method by its name from a run's settings. */
public final class Methods {
    /** The method names this build implements. */
    public static final List<String> NAMES = List.of("simclr", "moco-v2", "rotation", "relative-position", "jigsaw",
            "colorization", "deepcluster", "beit");

    /** Older names still accepted, and the method each stands for. */
    private static final java.util.Map<String, String> ALIASES = java.util.Map.of("moco", "moco-v2",
            "context", "relative-position");

    /**
     * The name under which a method is implemented and recorded: aliases resolved, lower case.
     *
     * @throws IllegalArgumentException for a name this build does not implement
     */
    public static String canonical(String name) {
        String n = name.toLowerCase(java.util.Locale.ROOT).trim();
        n = ALIASES.getOrDefault(n, n);
        if (!NAMES.contains(n)) {
            throw new IllegalArgumentException("method: unknown method '" + name + "', known: " + NAMES);
        }
        return n;
    }

    /** Hidden units of the pretext tasks' classifier heads. */
    static final int HEAD_HIDDEN = 512;

    private Methods() {}

    /**
     * @param spec the encoder to pretrain (built for {@code data}'s images)
     * @param data the training images: colorization measures its lightness statistics from them
     * @throws UnsuitableDataException if the method cannot learn from {@code data}
     */
    public static SslMethod create(PretrainConfig c, BackboneSpec spec, ImageDataset data) {
        return create(c, spec, data, MethodResources.NONE);
    }

    /**
     * @param resources what some methods need from outside the process (BEiT: its tokenizer)
     */
    public static SslMethod create(PretrainConfig c, BackboneSpec spec, ImageDataset data, MethodResources resources) {
        int size = spec.imageSize();
        return switch (c.method()) {
            case "simclr" -> new SimClr(spec, contrastiveViews(c, spec), c.projectionHidden(), c.projectionDim(),
                    c.temperature());
            case "moco-v2" -> new MocoV2(spec, contrastiveViews(c, spec), c.projectionHidden(),
                    c.projectionDim(), c.queueSize(), c.keyMomentum(), c.temperature());
            // Rotation and colorization crop no smaller than half the image by default (PretrainConfig.defaults).
            case "rotation" -> new Rotation(spec, AugmentationPipeline.cropFlip(size, c.cropScaleMin()), HEAD_HIDDEN);
            case "relative-position" -> new RelativePosition(spec, HEAD_HIDDEN);
            case "jigsaw" -> new Jigsaw(spec, c.permutations(), c.seed(), HEAD_HIDDEN);
            case "colorization" -> {
                float[][] stats = Colorization.lightnessStats(data, c.seed());
                yield new Colorization(spec.withInput(BackboneSpec.LIGHTNESS, stats[0], stats[1]),
                        AugmentationPipeline.cropFlip(size, c.cropScaleMin()), 256);
            }
            case "deepcluster" -> new DeepCluster(spec, AugmentationPipeline.cropFlip(size, c.cropScaleMin()),
                    c.clusters(), c.pcaDim(), HEAD_HIDDEN);
            case "beit" -> new Beit(spec, resources.tokenSource(c.tokenizer()), c.maskRatio(), c.cropScaleMin(),
                    c.seed(), c.batchSize());
            default -> throw new IllegalArgumentException("method: unknown method '" + c.method() + "', known: " + NAMES);
        };
    }

    /**
     * Checks, without building anything, that {@code method} can train on {@code data} with these settings: what
     * a service verifies before it accepts a run.
     *
     * @throws UnsuitableDataException if the data is of the wrong kind (grayscale for colorization)
     * @throws IllegalArgumentException if a setting does not fit the data
     */
    public static void checkData(PretrainConfig c, BackboneSpec spec, ImageDataset data) {
        switch (c.method()) {
            case "colorization" -> {
                if (spec.isVit()) {
                    throw new IllegalArgumentException("backbone: colorization predicts colours per pixel from a "
                            + "ConvNet's feature map; use small-convnet or resnet18, not " + spec.type());
                }
                Colorization.requireColour(data);
            }
            case "relative-position", "jigsaw" -> new PatchGrid(spec.imageSize());
            case "beit" -> {
                if (!spec.isVit()) {
                    throw new IllegalArgumentException("backbone: BEiT pretrains a ViT (vit or vit-cls), not " + spec.type());
                }
                if (c.tokenizer().isBlank()) {
                    throw new IllegalArgumentException("tokenizer: BEiT needs the name of a visual tokenizer");
                }
            }
            case "deepcluster" -> {
                if (c.clusters() > data.size()) {
                    throw new IllegalArgumentException("clusters: " + c.clusters() + " clusters need at least as many "
                            + "images; the dataset has " + data.size());
                }
                if (c.pcaDim() > spec.featureDim()) {
                    throw new IllegalArgumentException("pca_dim: " + c.pcaDim() + " is larger than the encoder's "
                            + spec.featureDim() + " features");
                }
            }
            default -> { }
        }
    }

    private static AugmentationPipeline contrastiveViews(PretrainConfig c, BackboneSpec spec) {
        return AugmentationPipeline.contrastive(spec.channels(), spec.imageSize(), c.cropScaleMin(), c.jitterStrength());
    }
}
