package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.Pretrainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The recipe levers: an average of the encoder's weights that is evaluated and exported, and multi-crop's small views
 * for the methods with a predictor.
 */
class TrainingLeversTest {
    @TempDir
    Path dir;

    /**
     * With {@code ema_decay}, the run evaluates and exports the average of its weights (not its last weights), keeps
     * the average in its checkpoints, and a resumed run ends with the same average as an uninterrupted one.
     */
    @Test
    void theWeightAverageIsExportedAndResumesExactly() throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        float[][] st = Pretrainer.channelStats(data);
        PretrainConfig c = PretrainerTest.config("byol", dir.resolve("a")).toBuilder()
                .emaDecay(0.9f)
                .build();
        List<float[]> straight;
        Path bundle = dir.resolve("ema.bundle");
        try (Pretrainer a = new Pretrainer(c, data, st[0], st[1])) {
            a.run();
            assertNotEquals(a.method().encoder(), a.evaluationEncoder());
            straight = arrays(a.evaluationEncoder());
            assertFalse(sameValues(straight, arrays(a.method().encoder())), "the average is not the last weights");
            a.exportEncoder(bundle);
            assertEquals(0.9f, ((Number) a.provenance().hyperparameter("training", "ema_decay")).floatValue());
        }
        try (NDManager m = NDManager.newBaseManager()) {
            var loaded = EncoderBundle.read(bundle, m);
            assertTrue(sameValues(straight, arrays(loaded.encoder())), "the bundle holds the average");
        }
        PretrainConfig cb = c.toBuilder().checkpointDir(dir.resolve("b")).build();
        List<float[]> resumed = PretrainerTest.cancelAtFiveAndResume(
                cb, data, st, MethodResources.NONE, t -> arrays(t.evaluationEncoder()));
        for (int i = 0; i < straight.size(); i++) {
            assertArrayEquals(straight.get(i), resumed.get(i), 1e-5f, "average array " + i);
        }
    }

    /**
     * With {@code local_crops}, BYOL and SimSiam learn from the small views too (the weights differ from a run
     * without them), record the views' side, and a resumed run draws the same small views (same weights at the end).
     */
    @ParameterizedTest
    @ValueSource(strings = {"byol", "simsiam"})
    void multiCropTrainsAndResumesExactly(String method) throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        float[][] st = Pretrainer.channelStats(data);
        PretrainConfig plain = PretrainerTest.config(method, dir.resolve(method + "-plain"));
        PretrainConfig c = plain.toBuilder()
                .setting("local_crops", 2)
                .checkpointDir(dir.resolve(method + "-a"))
                .build();
        List<float[]> withoutLocal;
        try (Pretrainer a = new Pretrainer(plain, data, st[0], st[1])) {
            a.run();
            withoutLocal = arrays(a.method().encoder());
        }
        List<float[]> straight;
        try (Pretrainer a = new Pretrainer(c, data, st[0], st[1])) {
            a.run();
            straight = arrays(a.method().encoder());
            assertEquals(8, a.provenance().hyperparameter("derived", "local_crop_side"));
        }
        assertFalse(sameValues(straight, withoutLocal), "the small views change what is learned");
        PretrainConfig cb =
                c.toBuilder().checkpointDir(dir.resolve(method + "-b")).build();
        List<float[]> resumed = PretrainerTest.cancelAtFiveAndResume(
                cb, data, st, MethodResources.NONE, t -> arrays(t.method().encoder()));
        for (int i = 0; i < straight.size(); i++) {
            assertArrayEquals(straight.get(i), resumed.get(i), 1e-5f, method + " array " + i);
        }
    }

    /**
     * The grid backbone end to end in core: it trains, its bundle declares and gives 36 values per unit of width
     * (the 12 px images reach its grid as a 3x3 map), and a resumed run ends with the same weights.
     */
    @Test
    void theGridBackboneTrainsExportsAndResumesExactly() throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        float[][] st = Pretrainer.channelStats(data);
        PretrainConfig c = PretrainerTest.config("simclr", dir.resolve("grid-a")).toBuilder()
                .backbone(BackboneSpec.SMALL_CONVNET_GRID)
                .build();
        List<float[]> straight;
        Path bundle = dir.resolve("grid.bundle");
        try (Pretrainer a = new Pretrainer(c, data, st[0], st[1])) {
            a.run();
            straight = arrays(a.method().encoder());
            a.exportEncoder(bundle);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            var loaded = EncoderBundle.read(bundle, m);
            assertEquals(
                    BackboneSpec.SMALL_CONVNET_GRID, loaded.header().backbone().type());
            assertEquals(36 * 4, loaded.header().featureDim());
            NDArray h = EncoderBundle.embed(loaded.encoder(), m.randomUniform(0f, 1f, new Shape(3, 1, 12, 12)));
            assertEquals(new Shape(3, 36 * 4), h.getShape());
            assertTrue(sameValues(straight, arrays(loaded.encoder())), "the bundle holds the trained weights");
        }
        PretrainConfig cb = c.toBuilder().checkpointDir(dir.resolve("grid-b")).build();
        List<float[]> resumed = PretrainerTest.cancelAtFiveAndResume(
                cb, data, st, MethodResources.NONE, t -> arrays(t.method().encoder()));
        for (int i = 0; i < straight.size(); i++) {
            assertArrayEquals(straight.get(i), resumed.get(i), 1e-5f, "grid backbone array " + i);
        }
    }

    private static List<float[]> arrays(Block b) {
        List<float[]> out = new ArrayList<>();
        b.getParameters().forEach(p -> out.add(p.getValue().getArray().toFloatArray()));
        return out;
    }

    private static boolean sameValues(List<float[]> a, List<float[]> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (!java.util.Arrays.equals(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }
}
