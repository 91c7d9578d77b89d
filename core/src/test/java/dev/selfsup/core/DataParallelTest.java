package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.BatchNorm;
import dev.selfsup.core.parallel.DataParallel;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Data-parallel training proven on the CPU: N replicas (real copies of the parameters, each in its own thread) with
 * synchronised batch norm compute the same losses and end with the same parameters as one device on the whole
 * batch; per-replica batch norm really is per replica; a data-parallel run resumes exactly.
 */
class DataParallelTest {
    @TempDir
    Path dir;

    private static final Map<String, Object> SMALL_SETTINGS = Map.of(
            "projection_hidden",
            16,
            "projection_dim",
            8,
            "queue_size",
            32,
            "clusters",
            8,
            "pca_dim",
            8,
            "predictor_hidden",
            16);

    /** Plain SGD: its update is linear in the gradient, so a rounding difference stays a rounding difference. */
    static PretrainConfig config(String method, int replicas, String batchNorm, long steps, Path ckpt) {
        PretrainConfig.Builder b = PretrainConfig.defaults(method).toBuilder()
                .depth(1)
                .width(4)
                .batchSize(16)
                .steps(steps)
                .device("cpu")
                .replicas(replicas)
                .batchNorm(batchNorm)
                .optimizer("sgd")
                .learningRate(0.05f)
                .warmupEpochs(0)
                .logEverySteps(1)
                .seed(7)
                .checkpointDir(ckpt)
                .checkpointEverySteps(4);
        for (String key : Methods.get(method).settingKeys()) {
            if (SMALL_SETTINGS.containsKey(key)) {
                b.setting(key, SMALL_SETTINGS.get(key));
            }
        }
        return b.build();
    }

    /** A finished run: its loss at every step and its parameters and method state at the end. */
    record Outcome(List<Double> losses, List<float[]> params, List<float[]> initial) {}

    private static Outcome train(PretrainConfig c, ImageDataset data) throws IOException {
        return train(c, data, MethodResources.NONE);
    }

    /** Trains {@code c} to the end and records its loss at every logged step. */
    static Outcome train(PretrainConfig c, ImageDataset data, MethodResources resources) throws IOException {
        float[][] st = Pretrainer.channelStats(data);
        try (Pretrainer t = new Pretrainer(c, data, st[0], st[1], resources)) {
            List<float[]> initial = PretrainerTest.params(t);
            List<Double> losses = new ArrayList<>();
            t.addListener(new PretrainListener() {
                @Override
                public void onProgress(Progress p) {
                    losses.add(p.loss());
                }
            });
            assertEquals(PretrainResult.Status.FINISHED, t.run().status());
            return new Outcome(losses, PretrainerTest.params(t), initial);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"simclr", "moco-v2", "byol", "rotation", "deepcluster"})
    void replicasWithSynchronisedBatchNormEqualOneDevice(String method) throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        Outcome one = train(config(method, 1, "sync", 3, null), data);
        for (int replicas : new int[] {2, 4}) {
            Outcome many = train(config(method, replicas, "sync", 3, null), data);
            assertEquals(3, many.losses().size());
            for (int s = 0; s < 3; s++) {
                double a = one.losses().get(s);
                double b = many.losses().get(s);
                assertEquals(a, b, 1e-5 * Math.max(1, Math.abs(a)), method + " x" + replicas + " loss at step " + s);
            }
            int changed = 0;
            for (int i = 0; i < one.params().size(); i++) {
                assertArrayEquals(
                        one.params().get(i), many.params().get(i), 2e-5f, method + " x" + replicas + " array " + i);
                if (!java.util.Arrays.equals(one.params().get(i), one.initial().get(i))) {
                    changed++;
                }
            }
            assertTrue(changed > one.params().size() / 2, "the steps moved most arrays: " + changed);
        }
    }

    /**
     * Per-replica batch norm is exactly each replica's share normalised with its own statistics: the split forward
     * pass equals the encoder run on each half on its own, and differs from the whole batch normalised at once.
     */
    @Test
    void perReplicaBatchNormNormalisesEachShareWithItsOwnStatistics() {
        BackboneSpec spec =
                new BackboneSpec(BackboneSpec.SMALL_CONVNET, 4, 1, 1, 12, new float[] {0.3f}, new float[] {0.3f});
        try (NDManager m = NDManager.newBaseManager();
                DataParallel parallel = new DataParallel(List.of(Device.cpu(), Device.cpu()), false, m)) {
            Block encoder = Backbones.build(spec);
            encoder.initialize(m, DataType.FLOAT32, new Shape(16, 1, 12, 12));
            NDArray x = m.randomUniform(0f, 1f, new Shape(16, 1, 12, 12));
            ParameterStore one = new ParameterStore(m, false);
            float[] first =
                    encoder.forward(one, new NDList(x.get("0:8")), true).head().toFloatArray();
            float[] second =
                    encoder.forward(one, new NDList(x.get("8:16")), true).head().toFloatArray();
            float[] whole = encoder.forward(one, new NDList(x), true).head().toFloatArray();
            parallel.broadcast();
            float[] split = parallel.forward(encoder, parallel.parameters(), x).toFloatArray();
            parallel.endStep();
            float[] halves = new float[first.length + second.length];
            System.arraycopy(first, 0, halves, 0, first.length);
            System.arraycopy(second, 0, halves, first.length, second.length);
            assertArrayEquals(halves, split, 1e-5f, "each replica normalises its share with the share's statistics");
            double apart = 0;
            for (int i = 0; i < whole.length; i++) {
                apart = Math.max(apart, Math.abs(whole[i] - split[i]));
            }
            assertTrue(apart > 1e-3, "the shares' statistics are not the whole batch's: " + apart);
        }
    }

    @Test
    void mocoWithPerReplicaBatchNormAndShuffledKeysTrains() throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        Outcome two = train(config("moco-v2", 2, "per-device", 2, null), data);
        assertEquals(2, two.losses().size());
        two.losses().forEach(l -> assertTrue(Double.isFinite(l), "loss " + l));
    }

    @ParameterizedTest
    @ValueSource(strings = {"simclr", "moco-v2", "rotation"})
    void dataParallelRunResumesExactly(String method) throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        float[][] st = Pretrainer.channelStats(data);
        String bn = PretrainConfig.defaults(method).batchNorm();
        List<float[]> straight =
                train(config(method, 2, bn, 8, dir.resolve("a")), data).params();
        PretrainConfig cb = config(method, 2, bn, 8, dir.resolve("b"));
        List<float[]> resumed =
                PretrainerTest.cancelAtFiveAndResume(cb, data, st, MethodResources.NONE, PretrainerTest::params);
        for (int i = 0; i < straight.size(); i++) {
            assertArrayEquals(straight.get(i), resumed.get(i), 1e-5f, method + " array " + i);
        }
    }

    @Test
    void provenanceRecordsTheReplicas() throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        float[][] st = Pretrainer.channelStats(data);
        try (Pretrainer t = new Pretrainer(config("rotation", 2, "sync", 1, null), data, st[0], st[1])) {
            assertEquals(2, t.devices().size());
            assertEquals(2, t.provenance().hyperparameter("training", "replicas"));
            assertEquals("sync", t.provenance().hyperparameter("training", "batch_norm"));
            assertTrue(
                    t.provenance().device().startsWith("2 replicas"),
                    t.provenance().device());
        }
    }

    @Test
    void settingsThatCannotSplitAreRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> config("jigsaw", 2, "sync", 1, null));
        assertTrue(e.getMessage().startsWith("replicas"), e.getMessage());
        assertTrue(e.getMessage().contains("moco-v2"), e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("moco-v2").toBuilder()
                        .batchSize(18)
                        .replicas(4)
                        .build());
        assertTrue(e.getMessage().startsWith("batch_size"), e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("simclr").toBuilder()
                        .batchNorm("global")
                        .build());
        assertTrue(e.getMessage().startsWith("batch_norm"), e.getMessage());
        assertEquals("sync", PretrainConfig.defaults("simclr").batchNorm());
        assertEquals("per-device", PretrainConfig.defaults("moco-v2").batchNorm());
        assertEquals(List.of(Devices.chooseAll("cpu", 3).get(0)), List.of(ai.djl.Device.cpu()));
    }

    @Test
    void batchNormAloneIsTheEngineKernelWithDjlsNames() {
        try (NDManager m = NDManager.newBaseManager()) {
            SequentialBlock ours = new SequentialBlock().add(new BatchNorm());
            SequentialBlock djl =
                    new SequentialBlock().add(ai.djl.nn.norm.BatchNorm.builder().build());
            Shape in = new Shape(6, 3, 4, 4);
            ours.initialize(m, DataType.FLOAT32, in);
            djl.initialize(m, DataType.FLOAT32, in);
            List<String> ourNames = new ArrayList<>();
            ours.getParameters().forEach(p -> ourNames.add(p.getKey()));
            List<String> djlNames = new ArrayList<>();
            djl.getParameters().forEach(p -> djlNames.add(p.getKey()));
            assertEquals(djlNames, ourNames);
            NDArray x = m.randomNormal(in);
            ParameterStore ps = new ParameterStore(m, false);
            for (boolean training : new boolean[] {true, false}) {
                float[] a = ours.forward(ps, new NDList(x), training)
                        .singletonOrThrow()
                        .toFloatArray();
                float[] b = djl.forward(ps, new NDList(x), training)
                        .singletonOrThrow()
                        .toFloatArray();
                assertArrayEquals(b, a, 0f, "training " + training);
            }
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(
                        djl.getParameters().get(i).getValue().getArray().toFloatArray(),
                        ours.getParameters().get(i).getValue().getArray().toFloatArray(),
                        0f,
                        djlNames.get(i));
            }
        }
    }
}
