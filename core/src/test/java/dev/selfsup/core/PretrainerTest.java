package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.io.TensorArchive;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.tokenizer.LocalTokenSource;
import dev.selfsup.core.tokenizer.PatchKMeansTokenizer;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.core.train.CheckpointStore;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.train.TrainingDivergedException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The training loop: loss goes down, a cancelled and resumed run ends exactly where an uninterrupted one does. */
class PretrainerTest {
    @TempDir
    Path dir;

    /** 96 random 1x12x12 images with a bright square somewhere: tiny, but not noise. */
    static ImageDataset tiny() {
        int n = 96;
        int s = 12;
        byte[] px = new byte[n * s * s];
        Random r = new Random(11);
        for (int i = 0; i < n; i++) {
            int y0 = r.nextInt(8);
            int x0 = r.nextInt(8);
            for (int y = 0; y < s; y++) {
                for (int x = 0; x < s; x++) {
                    boolean on = y >= y0 && y < y0 + 4 && x >= x0 && x < x0 + 4;
                    px[i * s * s + y * s + x] = (byte) (on ? 200 + r.nextInt(55) : r.nextInt(40));
                }
            }
        }
        return new ImageDataset("tiny", px, null, n, 1, s, s, List.of());
    }

    /** 96 RGB 3x24x24 images: a square of a random saturated colour on a dim coloured background. */
    static ImageDataset tinyColour() {
        int n = 96;
        int s = 24;
        byte[] px = new byte[n * 3 * s * s];
        Random r = new Random(12);
        for (int i = 0; i < n; i++) {
            int y0 = r.nextInt(14);
            int x0 = r.nextInt(14);
            int[] fg = {r.nextInt(256), r.nextInt(256), r.nextInt(256)};
            fg[r.nextInt(3)] = 255;
            int[] bg = {r.nextInt(60), r.nextInt(60), r.nextInt(60)};
            for (int c = 0; c < 3; c++) {
                for (int y = 0; y < s; y++) {
                    for (int x = 0; x < s; x++) {
                        boolean on = y >= y0 && y < y0 + 10 && x >= x0 && x < x0 + 10;
                        px[((i * 3 + c) * s + y) * s + x] = (byte) (on ? fg[c] : bg[c] + r.nextInt(20));
                    }
                }
            }
        }
        return new ImageDataset("tiny-colour", px, null, n, 3, s, s, List.of());
    }

    /** The patch methods and colorization need 24 px colour images; the others take the 12 px grayscale ones. */
    static ImageDataset dataFor(String method) {
        return switch (method) {
            case "relative-position", "jigsaw", "colorization" -> tinyColour();
            default -> tiny();
        };
    }

    /** For BEiT: a k-means patch tokenizer of the data (12 px images, 4 px patches, 8 tokens), in this process. */
    static MethodResources resourcesFor(ImageDataset data, NDManager m) {
        var spec = new TokenizerSpec("kmeans-patches", 8, 4, data.height(), data.channels(), 0, 0);
        var t = PatchKMeansTokenizer.fit(spec, data, 96, 10, 1, m);
        return new MethodResources(name -> new LocalTokenSource(t, m));
    }

    /** Every method this build implements: a new one is tested without touching this file. */
    static Stream<String> methods() {
        return Methods.NAMES.stream();
    }

    /** Small values of the methods' settings, so every method trains in a test's time. */
    private static final Map<String, Object> SMALL_SETTINGS = Map.of(
            "projection_hidden",
            16,
            "projection_dim",
            8,
            "queue_size",
            32,
            "jigsaw_permutations",
            10,
            "clusters",
            8,
            "pca_dim",
            8,
            "clusterings",
            2,
            "local_crops",
            1,
            "tokenizer",
            "tiny");

    static PretrainConfig config(String method, Path ckpt) {
        PretrainConfig.Builder b = PretrainConfig.defaults(method).toBuilder()
                .depth(1)
                .batchSize(16)
                .steps(12)
                .device("cpu")
                .checkpointDir(ckpt)
                .checkpointEverySteps(4)
                .logEverySteps(2)
                .warmupEpochs(0.5f)
                .width("beit".equals(method) ? 32 : 4);
        for (String key : Methods.get(method).settingKeys()) {
            if (SMALL_SETTINGS.containsKey(key)) {
                b.setting(key, SMALL_SETTINGS.get(key));
            }
        }
        return b.build();
    }

    static List<float[]> params(Pretrainer t) {
        List<float[]> out = new ArrayList<>();
        for (var p : t.method().trainable().getParameters()) {
            out.add(p.getValue().getArray().toFloatArray());
        }
        t.method()
                .state()
                .values()
                .forEach(a -> out.add(a.toType(DataType.FLOAT32, false).toFloatArray()));
        return out;
    }

    @ParameterizedTest
    @MethodSource("methods")
    void resumedRunEqualsUninterruptedRun(String method) throws IOException {
        // Cancelled at step 5, inside the first epoch of 6 steps: DeepCluster must resume on its saved clusters,
        // BEiT must prepare the same views, masks and tokens again.
        ImageDataset data = dataFor(method);
        float[][] st = Pretrainer.channelStats(data);
        try (NDManager tokenizers = NDManager.newBaseManager()) {
            resumedRunEqualsUninterruptedRun(method, data, st, resourcesFor(data, tokenizers));
        }
    }

    /**
     * The provenance records each value under its own key, by value: the training settings as configured, the
     * method's settings record as given, and derived values that repeat neither. (A flat map let MoCo v2's key
     * momentum, 0.99, overwrite the optimizer's momentum, 0.9, in every checkpoint and bundle.)
     */
    @ParameterizedTest
    @MethodSource("methods")
    void provenanceRecordsEveryValueUnderItsOwnKey(String method) throws IOException {
        ImageDataset data = dataFor(method);
        float[][] st = Pretrainer.channelStats(data);
        PretrainConfig c = config(method, null);
        try (NDManager tokenizers = NDManager.newBaseManager();
                Pretrainer t = new Pretrainer(c, data, st[0], st[1], resourcesFor(data, tokenizers))) {
            dev.selfsup.core.train.Provenance p = t.provenance();
            assertEquals(c.momentum(), p.hyperparameter("training", "momentum"), method);
            assertEquals(c.learningRate(), p.hyperparameter("training", "learning_rate"), method);
            assertEquals(c.batchSize(), p.hyperparameter("training", "batch_size"), method);
            Map<String, Object> settings = dev.selfsup.core.config.Records.values(c.settings());
            settings.forEach((k, v) -> assertEquals(v, p.hyperparameter("method", k), method + " " + k));
            @SuppressWarnings("unchecked")
            Map<String, Object> derived =
                    (Map<String, Object>) p.hyperparameters().get("derived");
            for (String k : derived.keySet()) {
                assertFalse(settings.containsKey(k), method + ": derived value " + k + " repeats a setting");
            }
            if (method.equals("moco-v2")) {
                assertEquals(0.9f, p.hyperparameter("training", "momentum"));
                assertEquals(0.99f, p.hyperparameter("method", "key_momentum"));
            }
        }
    }

    /**
     * Images read from disk, both contrastive views cropped from the source files on the host: a resumed run crops
     * the same boxes, so it still ends with the same weights.
     */
    @ParameterizedTest
    @ValueSource(strings = {"simclr", "moco-v2"})
    void resumedRunOnImagesFromDiskEqualsUninterruptedRun(String method) throws IOException {
        Path folder = dir.resolve("photos-" + method);
        java.util.Random r = new java.util.Random(9);
        for (int i = 0; i < 40; i++) {
            java.awt.image.BufferedImage img =
                    new java.awt.image.BufferedImage(20 + i % 7, 16 + i % 5, java.awt.image.BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    img.setRGB(x, y, r.nextInt(1 << 24));
                }
            }
            java.nio.file.Files.createDirectories(folder);
            javax.imageio.ImageIO.write(
                    img, "png", folder.resolve(String.format("%03d.png", i)).toFile());
        }
        ImageDataset data = dev.selfsup.core.data.ImageFolderReader.read(
                "disk", folder, 3, 12, dev.selfsup.core.data.ReadOptions.streamed(2));
        assertFalse(data.inMemory());
        float[][] st = Pretrainer.channelStats(data);
        try (NDManager tokenizers = NDManager.newBaseManager()) {
            resumedRunEqualsUninterruptedRun(method, data, st, resourcesFor(data, tokenizers));
        }
    }

    private void resumedRunEqualsUninterruptedRun(String method, ImageDataset data, float[][] st, MethodResources res)
            throws IOException {
        List<float[]> straight;
        try (Pretrainer a = new Pretrainer(config(method, dir.resolve("a")), data, st[0], st[1], res)) {
            assertEquals(PretrainResult.Status.FINISHED, a.run().status());
            straight = params(a);
        }
        PretrainConfig cb = config(method, dir.resolve("b"));
        List<float[]> resumed = cancelAtFiveAndResume(cb, data, st, res, PretrainerTest::params);
        assertEquals(straight.size(), resumed.size());
        for (int i = 0; i < straight.size(); i++) {
            assertArrayEquals(straight.get(i), resumed.get(i), 1e-5f, "array " + i);
        }
    }

    /**
     * Trains {@code cb} in two attempts: cancelled after step 5 (inside the first epoch), then resumed to the end,
     * checking that the second attempt really started from the checkpoint of step 5 (a run started over would end
     * with the same weights too). {@code atEnd} reads the finished trainer.
     */
    static <T> T cancelAtFiveAndResume(
            PretrainConfig cb, ImageDataset data, float[][] st, MethodResources res, Function<Pretrainer, T> atEnd)
            throws IOException {
        try (Pretrainer b = new Pretrainer(cb, data, st[0], st[1], res)) {
            b.addListener(new PretrainListener() {
                @Override
                public void onStep(long step, double s, double w, int images) {
                    if (step == 5) {
                        b.cancel();
                    }
                }
            });
            PretrainResult r = b.run();
            assertEquals(PretrainResult.Status.CANCELLED, r.status());
            assertEquals(5, r.steps());
            assertTrue(r.lastCheckpoint().getFileName().toString().contains("0000000005"));
        }
        long[] firstStep = {-1};
        T result;
        try (Pretrainer c = new Pretrainer(cb, data, st[0], st[1], res)) {
            c.addListener(new PretrainListener() {
                @Override
                public void onStart(long startStep, long total) {
                    firstStep[0] = startStep;
                }
            });
            assertEquals(PretrainResult.Status.FINISHED, c.run().status());
            result = atEnd.apply(c);
        }
        assertEquals(5, firstStep[0], "resumes at the checkpoint's step, not from 0");
        return result;
    }

    @Test
    void lossDecreasesAndEncoderExportsWithProvenance() throws IOException {
        ImageDataset data = tiny();
        float[][] st = Pretrainer.channelStats(data);
        List<Double> losses = new ArrayList<>();
        PretrainConfig c =
                config("simclr", null).toBuilder().steps(60).learningRate(0.01f).build();
        try (Pretrainer t = new Pretrainer(c, data, st[0], st[1])) {
            t.addListener(new PretrainListener() {
                @Override
                public void onProgress(Progress p) {
                    losses.add(p.loss());
                }
            });
            t.run();
            double first = losses.get(0);
            double last = (losses.get(losses.size() - 1) + losses.get(losses.size() - 2)) / 2;
            assertTrue(last < first - 0.1, "loss " + first + " -> " + last);
            Path file = dir.resolve("enc.bundle");
            t.exportEncoder(file);
            try (NDManager m = NDManager.newBaseManager()) {
                var loaded = EncoderBundle.read(file, m);
                assertEquals("simclr", loaded.header().provenance().method());
                assertEquals(60, loaded.header().provenance().steps());
                assertEquals(data.fingerprint(), loaded.header().provenance().datasetFingerprint());
                assertEquals(16, loaded.header().featureDim());
                NDArray x = m.randomUniform(0f, 1f, new Shape(3, 1, 12, 12));
                NDArray mine = EncoderBundle.embed(t.method().encoder(), x);
                NDArray theirs = EncoderBundle.embed(loaded.encoder(), x);
                assertArrayEquals(mine.toFloatArray(), theirs.toFloatArray(), 1e-5f);
            }
        }
    }

    @Test
    void trainsOnAThreadOtherThanTheOneThatLoadedTheEngine() throws Exception {
        // Grad mode is per thread in PyTorch: a service trains on a worker thread, not the engine's.
        ImageDataset data = tiny();
        float[][] st = Pretrainer.channelStats(data);
        PretrainResult[] result = new PretrainResult[1];
        Throwable[] error = new Throwable[1];
        Thread t = new Thread(() -> {
            try (Pretrainer p =
                    new Pretrainer(config("moco-v2", null).toBuilder().steps(4).build(), data, st[0], st[1])) {
                result[0] = p.run();
            } catch (Throwable e) {
                error[0] = e;
            }
        });
        t.start();
        t.join();
        assertEquals(null, error[0]);
        assertEquals(PretrainResult.Status.FINISHED, result[0].status());
    }

    @Test
    void divergenceStopsWithClearErrorAndKeepsGoodCheckpoint() throws IOException {
        ImageDataset data = tiny();
        float[][] st = Pretrainer.channelStats(data);
        PretrainConfig c = config("simclr", dir.resolve("nan")).toBuilder()
                .optimizer("sgd")
                .learningRate(1e30f)
                .warmupEpochs(0)
                .steps(40)
                .checkpointEverySteps(1)
                .logEverySteps(1)
                .build();
        try (Pretrainer t = new Pretrainer(c, data, st[0], st[1])) {
            TrainingDivergedException e = assertThrows(TrainingDivergedException.class, t::run);
            assertTrue(e.getMessage().contains("loss became"), e.getMessage());
        }
        var files = new CheckpointStore(dir.resolve("nan"), 2).list();
        for (Path f : files) {
            TensorArchive.read(f); // every checkpoint left is whole
        }
    }
}
