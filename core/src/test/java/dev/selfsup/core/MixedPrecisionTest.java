package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Bfloat16;
import dev.selfsup.core.engine.Precision;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.numerics.NumericsReport;
import dev.selfsup.core.numerics.NumericsSelfCheck;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Training in bfloat16: it is used only where its self-check passes, it trains and resumes exactly as float32
 * does, and the provenance says which precision the weights came from.
 */
class MixedPrecisionTest {
    private static final MethodResources NONE = MethodResources.NONE;

    @TempDir
    Path dir;

    private static PretrainConfig config(String method, Path ckpt, String precision) {
        return PretrainerTest.config(method, ckpt).toBuilder()
                .precision(precision)
                .build();
    }

    /** Each kind of method once: two views, an EMA target, a queue, k-means labels, patches with a head. */
    @ParameterizedTest
    @ValueSource(strings = {"simclr", "byol", "moco-v2", "deepcluster", "jigsaw"})
    void bfloat16TrainsResumesExactlyAndIsRecorded(String method) throws IOException {
        ImageDataset data = PretrainerTest.dataFor(method);
        float[][] st = Pretrainer.channelStats(data);
        List<float[]> straight;
        List<float[]> initial;
        try (Pretrainer a = new Pretrainer(config(method, dir.resolve("a"), "bfloat16"), data, st[0], st[1], NONE)) {
            assertEquals(
                    "bfloat16",
                    a.precision().used(),
                    String.valueOf(a.precision().reason()));
            initial = PretrainerTest.params(a);
            PretrainResult r = a.run();
            assertEquals(PretrainResult.Status.FINISHED, r.status());
            assertTrue(Double.isFinite(r.finalLoss()), "loss " + r.finalLoss());
            assertEquals("bfloat16", a.provenance().hyperparameter("training", "precision"));
            straight = PretrainerTest.params(a);
        }
        List<float[]> exact;
        try (Pretrainer f = new Pretrainer(config(method, null, "float32"), data, st[0], st[1], NONE)) {
            f.run();
            assertEquals("float32", f.provenance().hyperparameter("training", "precision"));
            exact = PretrainerTest.params(f);
        }
        // The learned weights only (running statistics, EMA targets and cluster assignments follow them loosely):
        // 12 steps in bfloat16 move them the way float32's steps do, not exactly as far.
        double dot = 0;
        double bf = 0;
        double fp = 0;
        for (int i : learnedWeights(method, data)) {
            for (int k = 0; k < initial.get(i).length; k++) {
                double a = straight.get(i)[k] - initial.get(i)[k];
                double b = exact.get(i)[k] - initial.get(i)[k];
                dot += a * b;
                bf += a * a;
                fp += b * b;
            }
        }
        double cosine = dot / Math.sqrt(bf * fp);
        assertTrue(bf > 0 && !Arrays.equals(straight.get(0), exact.get(0)), "the bfloat16 run computed in float32");
        assertTrue(cosine > 0.97, method + ": the updates' cosine with float32's is " + cosine);
        PretrainConfig cb = config(method, dir.resolve("b"), "bfloat16");
        List<float[]> resumed = PretrainerTest.cancelAtFiveAndResume(cb, data, st, NONE, PretrainerTest::params);
        assertEquals(straight.size(), resumed.size());
        for (int i = 0; i < straight.size(); i++) {
            assertArrayEquals(straight.get(i), resumed.get(i), 1e-5f, method + " array " + i);
        }
    }

    /** The positions, in {@link PretrainerTest#params}, of the parameters the optimizer updates. */
    private static List<Integer> learnedWeights(String method, ImageDataset data) {
        float[][] st = Pretrainer.channelStats(data);
        try (Pretrainer t = new Pretrainer(config(method, null, "float32"), data, st[0], st[1], NONE)) {
            List<Integer> out = new java.util.ArrayList<>();
            var ps = t.method().trainable().getParameters().values();
            for (int i = 0; i < ps.size(); i++) {
                if (ps.get(i).requiresGradient()) {
                    out.add(i);
                }
            }
            return out;
        }
    }

    @Test
    void theBfloat16CheckPassesHereAndAWrongResultRefusesBfloat16() {
        assertNull(Bfloat16.unavailableReason(), "the shim is built and loads in the tests");
        NumericsReport report = NumericsSelfCheck.run(
                NumericsSelfCheck.Suite.BFLOAT16, (op, output, reference) -> {}, () -> Bfloat16.enter(Device.cpu()));
        assertTrue(report.passed(), report.table());
        assertTrue(report.largestError() > 1e-4, "the ops really ran in bfloat16: " + report.largestError());
        Precision chosen = Precision.choose("bfloat16", Device.cpu());
        assertEquals("bfloat16", chosen.used());
        assertNull(chosen.reason());
        // One weight gradient of one convolution off by 10% of its largest value: bfloat16 is refused.
        Precision refused = Precision.choose("bfloat16", Device.cpu(), (op, output, reference) -> {
            if (op.startsWith("conv2d") && output.equals("d weight")) {
                double max = Arrays.stream(reference).map(Math::abs).max().orElse(1);
                reference[0] += 0.1 * max;
            }
        });
        assertEquals("float32", refused.used());
        assertEquals("bfloat16", refused.requested());
        assertTrue(refused.reason().contains("self-check failed"), refused.reason());
        assertFalse(refused.bfloat16());
        assertEquals("float32", Precision.choose("float32", Device.cpu()).used());
    }

    @Test
    void bfloat16IsRefusedWithReplicasAndForBeitAndUnknownPrecisionsAreNamed() {
        var replicas = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("simclr").toBuilder()
                        .replicas(2)
                        .batchSize(32)
                        .precision("bfloat16")
                        .build());
        assertTrue(replicas.getMessage().startsWith("precision"), replicas.getMessage());
        var unknown = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("simclr").toBuilder()
                        .precision("fp8")
                        .build());
        assertTrue(unknown.getMessage().contains("[float32, bfloat16]"), unknown.getMessage());
        var beit = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("beit").toBuilder()
                        .precision("bfloat16")
                        .build());
        assertTrue(beit.getMessage().startsWith("precision: beit trains in float32 only"), beit.getMessage());
    }
}
