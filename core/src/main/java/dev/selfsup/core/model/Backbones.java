package dev.selfsup.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.pooling.Pool;
import dev.selfsup.core.color.Lab;
import dev.selfsup.core.nn.BatchNorm;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * The backbones: every architecture an encoder can have, one {@link BackboneDefinition} each in {@link #ALL}. Each
 * maps float32 {@code [B, C, H, W]} images in [0, 1] to the representation h, {@code [B, featureDim]}, taken after
 * global average pooling (the ViTs: the mean of the patch tokens, or the [CLS] token). Input normalisation is the
 * first layer, so an exported encoder takes plain [0, 1] pixels.
 */
public final class Backbones {
    private Backbones() {}

    /** The side of the grid {@link BackboneSpec#SMALL_CONVNET_GRID} keeps. */
    static final int GRID = 3;

    /** Every backbone, in the order the API lists them. */
    public static final List<BackboneDefinition> ALL = List.of(
            convNet(
                    BackboneSpec.SMALL_CONVNET,
                    "a VGG-style ConvNet of three stages (w, 2w, 4w channels); fast enough to pretrain on a CPU",
                    32,
                    1,
                    4,
                    (net, spec) -> smallConvNet(net, spec.width(), spec.depth()),
                    Pool::globalAvgPool2dBlock),
            convNet(
                    BackboneSpec.RESNET18,
                    "ResNet-18 for 32 px images: a 3x3 stem, no max-pool, basic blocks",
                    64,
                    1,
                    8,
                    (net, spec) -> resnet18(net, spec.width()),
                    Pool::globalAvgPool2dBlock),
            new BackboneDefinition(
                    BackboneSpec.VIT,
                    "a Vision Transformer whose representation is the mean of its patch tokens",
                    128,
                    4,
                    1,
                    true,
                    VisionTransformer::new),
            new BackboneDefinition(
                    BackboneSpec.VIT_CLS,
                    "a Vision Transformer whose representation is its [CLS] token",
                    128,
                    4,
                    1,
                    true,
                    VisionTransformer::new),
            convNet(
                    BackboneSpec.RESNET18_IMAGENET,
                    "ResNet-18 for photos: the ImageNet stem (7x7 stride-2 convolution, 3x3 max-pool), basic blocks",
                    64,
                    1,
                    8,
                    (net, spec) -> {
                        imagenetStem(net, spec.width());
                        basicStages(net, spec.width());
                    },
                    Pool::globalAvgPool2dBlock),
            convNet(
                    BackboneSpec.RESNET50,
                    "ResNet-50 for photos: the ImageNet stem and bottleneck blocks (3, 4, 6, 3)",
                    64,
                    1,
                    32,
                    (net, spec) -> {
                        imagenetStem(net, spec.width());
                        bottleneckStages(net, spec.width(), new int[] {3, 4, 6, 3});
                    },
                    Pool::globalAvgPool2dBlock),
            convNet(
                    BackboneSpec.SMALL_CONVNET_GRID,
                    "the small ConvNet whose representation keeps a 3x3 grid of its last feature map (36w values):"
                            + " where things are, as well as what; for centred objects",
                    32,
                    1,
                    4 * GRID * GRID,
                    (net, spec) -> smallConvNet(net, spec.width(), spec.depth()),
                    () -> gridAvgPool(GRID)));

    /**
     * The backbone named {@code name}.
     *
     * @throws IllegalArgumentException naming the backbones there are
     */
    public static BackboneDefinition get(String name) {
        for (BackboneDefinition d : ALL) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown backbone '" + name + "': use one of " + String.join(", ", names()));
    }

    /** The backbones' names, in the order of {@link #ALL}. */
    public static List<String> names() {
        return ALL.stream().map(BackboneDefinition::name).toList();
    }

    /** The encoder a spec describes, with freshly created (uninitialised) parameters. */
    public static Block build(BackboneSpec spec) {
        return get(spec.type()).builder().apply(spec);
    }

    /**
     * A ConvNet backbone: the lightness conversion when the spec asks for it, the input normalisation, the given
     * layers, then {@code pooling} (a global average, or a grid of them) to the representation.
     */
    private static BackboneDefinition convNet(
            String name,
            String description,
            int defaultWidth,
            int defaultDepth,
            int featuresPerWidth,
            BiConsumer<SequentialBlock, BackboneSpec> layers,
            Supplier<Block> pooling) {
        return new BackboneDefinition(name, description, defaultWidth, defaultDepth, featuresPerWidth, false, spec -> {
            SequentialBlock net = new SequentialBlock();
            if (BackboneSpec.LIGHTNESS.equals(spec.input())) {
                net.add(new LambdaBlock(list -> new NDList(Lab.lightness(list.singletonOrThrow())), "lightness"));
            }
            net.add(normalization(spec.mean(), spec.std()));
            layers.accept(net, spec);
            net.add(pooling.get());
            net.add(Blocks.batchFlattenBlock());
            return net;
        });
    }

    /**
     * Average pooling to an {@code n x n} grid of cells, whatever the side of the map, cut as adaptive pooling cuts
     * it (cells overlap by a row when the side is odd; a map smaller than the grid is repeated), concatenated cell by
     * cell: {@code [B, C, H, W]} to {@code [B, n n C]}. Made of slices and means, so it takes any input size
     * (multi-crop's small views, jigsaw's tiles) and its gradient is autograd's.
     */
    static Block gridAvgPool(int n) {
        return new LambdaBlock(
                list -> {
                    NDArray x = list.singletonOrThrow();
                    long h = x.getShape().get(2);
                    long w = x.getShape().get(3);
                    NDList cells = new NDList(n * n);
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            NDIndex cell = new NDIndex(
                                    ":, :, {}:{}, {}:{}",
                                    i * h / n,
                                    ceilDiv((i + 1) * h, n),
                                    j * w / n,
                                    ceilDiv((j + 1) * w, n));
                            // One axis at a time: the PyTorch engine means over one axis per call.
                            cells.add(x.get(cell).mean(new int[] {3}).mean(new int[] {2}));
                        }
                    }
                    return new NDList(NDArrays.concat(cells, 1));
                },
                "grid-pool");
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * The part of an encoder made by {@link #build} before its global pooling: a block sharing the encoder's
     * parameters that maps images to feature maps {@code [B, featureDim, H', W']} (dense heads use it).
     */
    public static SequentialBlock trunk(Block encoder) {
        if (!(encoder instanceof SequentialBlock seq) || seq.getChildren().size() < 3) {
            throw new IllegalArgumentException("not an encoder made by Backbones.build");
        }
        var children = seq.getChildren().values();
        SequentialBlock trunk = new SequentialBlock();
        trunk.addAll(children.subList(0, children.size() - 2));
        return trunk;
    }

    private static Block normalization(float[] mean, float[] std) {
        float[] m = mean.clone();
        float[] inv = new float[std.length];
        for (int i = 0; i < std.length; i++) {
            inv[i] = 1f / std[i];
        }
        return new LambdaBlock(
                list -> {
                    NDArray x = list.singletonOrThrow();
                    var mgr = x.getManager();
                    NDArray mu = mgr.create(m, new Shape(1, m.length, 1, 1)).toDevice(x.getDevice(), false);
                    NDArray is = mgr.create(inv, new Shape(1, inv.length, 1, 1)).toDevice(x.getDevice(), false);
                    return new NDList(x.sub(mu).muli(is));
                },
                "normalize");
    }

    /** conv 3x3 (no bias: batch norm follows), batch norm, ReLU. */
    private static void convBnRelu(SequentialBlock net, int filters, int stride) {
        net.add(conv3x3(filters, stride)).add(new BatchNorm()).add(Activation.reluBlock());
    }

    private static Block conv3x3(int filters, int stride) {
        return Conv2d.builder()
                .setKernelShape(new Shape(3, 3))
                .setFilters(filters)
                .optStride(new Shape(stride, stride))
                .optPadding(new Shape(1, 1))
                .optBias(false)
                .build();
    }

    /**
     * Three stages of {@code depth} conv-BN-ReLU layers with {@code w, 2w, 4w} channels, 2x2 max-pooling between
     * them. For 28 px input the stages run at 28, 14 and 7 px.
     */
    private static void smallConvNet(SequentialBlock net, int w, int depth) {
        int[] widths = {w, 2 * w, 4 * w};
        for (int s = 0; s < widths.length; s++) {
            if (s > 0) {
                net.add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)));
            }
            for (int d = 0; d < depth; d++) {
                convBnRelu(net, widths[s], 1);
            }
        }
    }

    /** ResNet-18 for small images: 3x3 stem, no max-pool, four stages of two basic blocks. */
    private static void resnet18(SequentialBlock net, int w) {
        convBnRelu(net, w, 1);
        basicStages(net, w);
    }

    /**
     * The ImageNet stem: a 7x7 stride-2 convolution, batch norm, ReLU and a 3x3 stride-2 max-pool. A 224 px image
     * reaches the first stage at 56 px, which keeps the activations of photo-sized inputs affordable.
     */
    private static void imagenetStem(SequentialBlock net, int w) {
        net.add(Conv2d.builder()
                        .setKernelShape(new Shape(7, 7))
                        .setFilters(w)
                        .optStride(new Shape(2, 2))
                        .optPadding(new Shape(3, 3))
                        .optBias(false)
                        .build())
                .add(new BatchNorm())
                .add(Activation.reluBlock())
                .add(Pool.maxPool2dBlock(new Shape(3, 3), new Shape(2, 2), new Shape(1, 1)));
    }

    /** Four stages of two basic blocks with {@code w, 2w, 4w, 8w} channels, each stage after the first halving. */
    private static void basicStages(SequentialBlock net, int w) {
        int[] widths = {w, 2 * w, 4 * w, 8 * w};
        int in = w;
        for (int s = 0; s < 4; s++) {
            for (int b = 0; b < 2; b++) {
                int stride = (s > 0 && b == 0) ? 2 : 1;
                net.add(basicBlock(widths[s], stride, in != widths[s] || stride != 1));
                in = widths[s];
            }
        }
    }

    /**
     * Four stages of bottleneck blocks (1x1 down to {@code w, 2w, 4w, 8w}, 3x3, 1x1 up to four times that), the
     * stride on the 3x3 convolution as torchvision's ResNet-50 has it.
     */
    private static void bottleneckStages(SequentialBlock net, int w, int[] blocks) {
        int in = w;
        for (int s = 0; s < 4; s++) {
            int mid = w << s;
            for (int b = 0; b < blocks[s]; b++) {
                int stride = (s > 0 && b == 0) ? 2 : 1;
                net.add(residual(bottleneck(mid, stride), 4 * mid, stride, in != 4 * mid || stride != 1));
                in = 4 * mid;
            }
        }
    }

    private static Block bottleneck(int mid, int stride) {
        return new SequentialBlock()
                .add(conv1x1(mid, 1))
                .add(new BatchNorm())
                .add(Activation.reluBlock())
                .add(conv3x3(mid, stride))
                .add(new BatchNorm())
                .add(Activation.reluBlock())
                .add(conv1x1(4 * mid, 1))
                .add(new BatchNorm());
    }

    private static Block conv1x1(int filters, int stride) {
        return Conv2d.builder()
                .setKernelShape(new Shape(1, 1))
                .setFilters(filters)
                .optStride(new Shape(stride, stride))
                .optBias(false)
                .build();
    }

    private static Block basicBlock(int filters, int stride, boolean projectShortcut) {
        SequentialBlock main = new SequentialBlock();
        main.add(conv3x3(filters, stride))
                .add(new BatchNorm())
                .add(Activation.reluBlock())
                .add(conv3x3(filters, 1))
                .add(new BatchNorm());
        return residual(main, filters, stride, projectShortcut);
    }

    /**
     * {@code relu(main(x) + shortcut(x))}, the shortcut a strided 1x1 convolution with batch norm when the shape
     * changes, else the identity.
     */
    private static Block residual(Block main, int filters, int stride, boolean projectShortcut) {
        Block shortcut = projectShortcut
                ? new SequentialBlock().add(conv1x1(filters, stride)).add(new BatchNorm())
                : Blocks.identityBlock();
        return new SequentialBlock()
                .add(new ParallelBlock(
                        list -> new NDList(
                                list.get(0).singletonOrThrow().add(list.get(1).singletonOrThrow())),
                        List.of(main, shortcut)))
                .add(Activation.reluBlock());
    }
}
