package dev.selfsup.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
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

/**
 * Builds encoders as DJL blocks. Each maps float32 {@code [B, C, H, W]} images in [0, 1] to the representation
 * h, {@code [B, featureDim]}, taken after global average pooling. Input normalisation is the first layer, so
 * an exported encoder takes plain [0, 1] pixels.
 */
public final class Backbones {
    private Backbones() {}

    public static Block build(BackboneSpec spec) {
        if (spec.isVit()) {
            return new VisionTransformer(spec);
        }
        SequentialBlock net = new SequentialBlock();
        if (BackboneSpec.LIGHTNESS.equals(spec.input())) {
            net.add(new LambdaBlock(list -> new NDList(Lab.lightness(list.singletonOrThrow())), "lightness"));
        }
        net.add(normalization(spec.mean(), spec.std()));
        switch (spec.type()) {
            case BackboneSpec.RESNET18 -> resnet18(net, spec.width());
            case BackboneSpec.RESNET18_IMAGENET -> {
                imagenetStem(net, spec.width());
                basicStages(net, spec.width());
            }
            case BackboneSpec.RESNET50 -> {
                imagenetStem(net, spec.width());
                bottleneckStages(net, spec.width(), new int[] {3, 4, 6, 3});
            }
            case BackboneSpec.SMALL_CONVNET -> smallConvNet(net, spec.width(), spec.depth());
            // A type added to BackboneSpec.TYPES without a builder here must fail, not train something else.
            default -> throw new IllegalArgumentException("backbone: no builder for '" + spec.type() + "'");
        }
        net.add(Pool.globalAvgPool2dBlock());
        net.add(Blocks.batchFlattenBlock());
        return net;
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
