package dev.selfsup.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.train.EncoderBundle;
import org.junit.jupiter.api.Test;

/** The backbones build, give h of the announced size, and have the expected number of weights. */
class BackbonesTest {
    static long weights(Block b) {
        long n = 0;
        for (var p : b.getParameters()) {
            Parameter.Type t = p.getValue().getType();
            if (t != Parameter.Type.RUNNING_MEAN && t != Parameter.Type.RUNNING_VAR) {
                n += p.getValue().getArray().size();
            }
        }
        return n;
    }

    /** Every registered backbone builds, and its h has the size its definition announces. */
    @Test
    void everyListedTypeBuildsAndGivesItsFeatureSize() {
        for (String type : BackboneSpec.TYPES) {
            BackboneSpec spec = new BackboneSpec(
                    type,
                    type.startsWith("resnet") ? 8 : BackboneSpec.defaultWidth(type),
                    BackboneSpec.defaultDepth(type),
                    1,
                    32,
                    new float[] {0.5f},
                    new float[] {0.25f});
            try (NDManager m = NDManager.newBaseManager()) {
                Block net = Backbones.build(spec);
                net.initialize(m, DataType.FLOAT32, new Shape(2, 1, 32, 32));
                NDArray h = EncoderBundle.embed(net, m.randomUniform(0f, 1f, new Shape(2, 1, 32, 32)));
                assertEquals(new Shape(2, spec.featureDim()), h.getShape(), type);
            }
        }
    }

    /**
     * The grid pooling against plain Java: each of the n x n cells is the mean of rows {@code [i s / n, ceil((i + 1)
     * s / n))} and the same columns, as adaptive pooling cuts them (overlapping when n does not divide the side,
     * repeated when the map is smaller than the grid), channel-major within a cell, cell by cell; the gradient reaches
     * every position of the map.
     */
    @Test
    void gridPoolingAveragesEachCellLikeAdaptivePooling() {
        // The cut of torch.nn.AdaptiveAvgPool2d(3) on a 7x7 map, as PyTorch documents and computes it.
        int[][] torchCells = {{0, 3}, {2, 5}, {4, 7}};
        for (int i = 0; i < 3; i++) {
            assertEquals(torchCells[i][0], i * 7 / 3);
            assertEquals(torchCells[i][1], ((i + 1) * 7 + 2) / 3);
        }
        for (int n : new int[] {2, 3}) {
            for (int side : new int[] {7, 4, 3, 2, 1}) {
                assertGridPooling(n, side);
            }
        }
    }

    private static void assertGridPooling(int n, int side) {
        int c = 3;
        float[] v = new float[2 * c * side * side];
        java.util.Random r = new java.util.Random(side);
        for (int i = 0; i < v.length; i++) {
            v[i] = r.nextFloat() * 2 - 1;
        }
        String where = n + "x" + n + " grid of a side " + side + " map";
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(v, new Shape(2, c, side, side));
            x.setRequiresGradient(true);
            NDArray out;
            try (ai.djl.training.GradientCollector g =
                    ai.djl.engine.Engine.getInstance().newGradientCollector()) {
                out = Backbones.gridAvgPool(n)
                        .forward(new ParameterStore(m, false), new NDList(x), true)
                        .singletonOrThrow();
                g.backward(out.sum());
            }
            assertEquals(new Shape(2, n * n * c), out.getShape(), where);
            float[] got = out.toFloatArray();
            for (int b = 0; b < 2; b++) {
                for (int cell = 0; cell < n * n; cell++) {
                    int i = cell / n;
                    int j = cell % n;
                    int r0 = i * side / n;
                    int r1 = ((i + 1) * side + n - 1) / n;
                    int c0 = j * side / n;
                    int c1 = ((j + 1) * side + n - 1) / n;
                    for (int ch = 0; ch < c; ch++) {
                        double sum = 0;
                        for (int y = r0; y < r1; y++) {
                            for (int xx = c0; xx < c1; xx++) {
                                sum += v[((b * c + ch) * side + y) * side + xx];
                            }
                        }
                        double mean = sum / ((r1 - r0) * (c1 - c0));
                        assertEquals(mean, got[b * n * n * c + cell * c + ch], 1e-5, where + ", cell " + cell);
                    }
                }
            }
            for (float gr : x.getGradient().toFloatArray()) {
                assertEquals(true, gr > 0, "every position feeds a cell: " + where);
            }
        }
    }

    @Test
    void cifarResNet18HasElevenMillionWeightsAnd512Features() {
        BackboneSpec spec = new BackboneSpec(
                "resnet18", 64, 1, 3, 32, new float[] {0.5f, 0.5f, 0.5f}, new float[] {0.25f, 0.25f, 0.25f});
        try (NDManager m = NDManager.newBaseManager()) {
            Block net = Backbones.build(spec);
            net.initialize(m, DataType.FLOAT32, new Shape(2, 3, 32, 32));
            NDArray h = EncoderBundle.embed(net, m.randomUniform(0f, 1f, new Shape(2, 3, 32, 32)));
            assertEquals(new Shape(2, 512), h.getShape());
            assertEquals(512, spec.featureDim());
            // torchvision's resnet18 has 11,689,512 weights; the CIFAR variant (3x3 stem, no fc) 11,168,832.
            assertEquals(11_168_832L, weights(net));
        }
    }

    /**
     * The photo ResNets have torchvision's weights, less its 1000-class layer: resnet18 11,689,512 - 513,000 and
     * resnet50 25,557,032 - 2,049,000. Their ImageNet stem takes any side from 32 px; 64 px keeps the test fast.
     */
    @Test
    void photoResNetsMatchTorchvisionsWeightCounts() {
        float[] mean = {0.485f, 0.456f, 0.406f};
        float[] std = {0.229f, 0.224f, 0.225f};
        assertPhotoResNet(new BackboneSpec(BackboneSpec.RESNET18_IMAGENET, 64, 1, 3, 64, mean, std), 512, 11_176_512L);
        assertPhotoResNet(new BackboneSpec(BackboneSpec.RESNET50, 64, 1, 3, 64, mean, std), 2048, 23_508_032L);
        assertEquals(64, BackboneSpec.defaultWidth(BackboneSpec.RESNET50));
    }

    private static void assertPhotoResNet(BackboneSpec spec, int features, long weights) {
        try (NDManager m = NDManager.newBaseManager()) {
            Block net = Backbones.build(spec);
            net.initialize(m, DataType.FLOAT32, new Shape(2, 3, 64, 64));
            NDArray h = EncoderBundle.embed(net, m.randomUniform(0f, 1f, new Shape(2, 3, 64, 64)));
            assertEquals(new Shape(2, features), h.getShape());
            assertEquals(features, spec.featureDim());
            assertEquals(weights, weights(net), spec.type());
            // A trunk (dense heads) ends at 2x2 for 64 px: stride 32, as on ImageNet (7x7 at 224 px).
            NDArray maps = Backbones.trunk(net)
                    .forward(
                            new ParameterStore(m, false),
                            new NDList(m.randomUniform(0f, 1f, new Shape(2, 3, 64, 64))),
                            false)
                    .singletonOrThrow();
            assertEquals(new Shape(2, features, 2, 2), maps.getShape());
        }
    }

    @Test
    void smallConvNetFeatureSizeFollowsWidth() {
        BackboneSpec spec = new BackboneSpec(
                        BackboneSpec.SMALL_CONVNET, 64, 1, 1, 28, new float[] {0.3f}, new float[] {0.35f})
                .withWidth(16)
                .withDepth(2);
        try (NDManager m = NDManager.newBaseManager()) {
            Block net = Backbones.build(spec);
            net.initialize(m, DataType.FLOAT32, new Shape(4, 1, 28, 28));
            NDArray h = EncoderBundle.embed(net, m.randomUniform(0f, 1f, new Shape(4, 1, 28, 28)));
            assertEquals(new Shape(4, 64), h.getShape());
        }
        assertThrows(
                IllegalArgumentException.class,
                () -> new BackboneSpec("vgg", 8, 1, 1, 28, new float[] {0f}, new float[] {1f}));
    }
}
