package dev.selfsup.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.eval.Features;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The visual tokenizers: the quantizer's rules against hand-computed values, training, saving, patches. */
class TokenizerTest {
    @TempDir
    Path dir;

    @Test
    void nearestCodeAndEmaUpdateMatchHandComputedValues() {
        try (NDManager m = NDManager.newBaseManager()) {
            VectorQuantizer vq = new VectorQuantizer(m, 2, 2, 0.5f, 0f);
            vq.set(new float[] {0, 0, 10, 10}, new float[] {1, 1}, new float[] {0, 0, 10, 10});
            NDArray z = m.create(new float[] {1, 1, 2, 0, 9, 9}, new Shape(3, 2));
            NDArray ids = vq.nearest(z);
            assertArrayEquals(new long[] {0, 0, 1}, ids.toLongArray());
            assertArrayEquals(new float[] {0, 0, 0, 0, 10, 10}, vq.lookup(ids).toFloatArray(), 0f);
            // n = [2, 1], sums of assigned z = [[3, 1], [9, 9]]; with γ = 0.5:
            // N = 0.5 [1, 1] + 0.5 [2, 1] = [1.5, 1];  M = 0.5 [[0, 0], [10, 10]] + 0.5 [[3, 1], [9, 9]] = [[1.5, 0.5],
            // [9.5, 9.5]]
            // codes = M / N (Laplace smoothing moves them by ~1e-5) = [[1, 1/3], [9.5, 9.5]].
            int reseeded = vq.update(z, ids, new SplittableRandom(1));
            assertEquals(0, reseeded);
            assertArrayEquals(new float[] {1.5f, 1f}, vq.counts().toFloatArray(), 1e-6f);
            assertArrayEquals(new float[] {1.5f, 0.5f, 9.5f, 9.5f}, vq.sums().toFloatArray(), 1e-6f);
            assertArrayEquals(new float[] {1f, 1f / 3f, 9.5f, 9.5f}, vq.codes().toFloatArray(), 1e-4f);
        }
    }

    @Test
    void deadCodesAreReseededOnTheBatch() {
        try (NDManager m = NDManager.newBaseManager()) {
            VectorQuantizer vq = new VectorQuantizer(m, 2, 2, 0.5f, 1.2f);
            vq.set(new float[] {0, 0, 10, 10}, new float[] {1, 1}, new float[] {0, 0, 10, 10});
            NDArray z = m.create(new float[] {1, 1, 2, 0, 0, 2}, new Shape(3, 2));
            // Code 1 gets nothing: its count decays to 0.5, under 1.2, and it moves onto a row of z.
            assertEquals(1, vq.update(z, vq.nearest(z), new SplittableRandom(3)));
            float[] codes = vq.codes().toFloatArray();
            List<List<Float>> rows = List.of(List.of(1f, 1f), List.of(2f, 0f), List.of(0f, 2f));
            assertTrue(
                    rows.contains(List.of(codes[2], codes[3])),
                    "code 1 is a batch row now: " + codes[2] + "," + codes[3]);
            assertEquals(2.4f, vq.counts().toFloatArray()[1], 1e-6f, "with a grace count");
        }
    }

    @Test
    void patchesAndUnpatchRoundTrip() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomUniform(0f, 1f, new Shape(2, 3, 8, 8));
            NDArray rows = VisualTokenizer.patches(x, 4);
            assertEquals(new Shape(8, 48), rows.getShape());
            // Row 1 is image 0's patch at grid (0, 1): rows 0..3, columns 4..7, channels first.
            assertArrayEquals(
                    x.get("0, :, 0:4, 4:8").toFloatArray(), rows.get(1).toFloatArray(), 0f);
            assertArrayEquals(
                    x.toFloatArray(), VisualTokenizer.unpatch(rows, 2, 3, 2, 4).toFloatArray(), 0f);
        }
    }

    /** 256 grayscale 16x16 images: each 4x4 patch is one of four textures at a random brightness. */
    static ImageDataset textures() {
        int n = 256;
        int s = 16;
        byte[] px = new byte[n * s * s];
        Random r = new Random(5);
        for (int i = 0; i < n; i++) {
            for (int gy = 0; gy < 4; gy++) {
                for (int gx = 0; gx < 4; gx++) {
                    int kind = r.nextInt(4);
                    int level = 120 + r.nextInt(100);
                    for (int y = 0; y < 4; y++) {
                        for (int x = 0; x < 4; x++) {
                            boolean on = switch (kind) {
                                case 0 -> false;
                                case 1 -> y < 2;
                                case 2 -> x < 2;
                                default -> (x + y) % 2 == 0;
                            };
                            px[i * s * s + (gy * 4 + y) * s + gx * 4 + x] = (byte) (on ? level : 10);
                        }
                    }
                }
            }
        }
        return new ImageDataset("textures", px, null, n, 1, s, s, List.of());
    }

    @Test
    void vqTokenizerLearnsUsesItsCodebookAndRoundTripsThroughAFile() throws Exception {
        ImageDataset data = textures();
        TokenizerSpec spec = new TokenizerSpec("vq", 32, 4, 16, 1, 8, 32);
        TokenizerTrainer.Config c = new TokenizerTrainer.Config(100, 32, 3e-3f, 0.25f, 0.95f, 0.5f, 7, "cpu", 25);
        List<TokenizerTrainer.Progress> progress = new ArrayList<>();
        try (NDManager m = NDManager.newBaseManager()) {
            VisualTokenizer t = TokenizerTrainer.train(spec, c, data, m, progress::add, () -> false);
            assertEquals(4, progress.size());
            assertTrue(progress.get(3).mse() < progress.get(0).mse(), "reconstruction improves: " + progress);
            TokenizerQuality q = TokenizerQuality.measure(t, data, 64, m);
            assertTrue(q.psnr() > 12, "psnr " + q.psnr() + " " + progress);
            assertTrue(q.usage() >= 0.5, "codebook usage " + q.usage());
            Path file = dir.resolve("t.tok");
            TokenizerFile.write(
                    file,
                    t,
                    new TokenizerFile.Header(
                            "tokenizer",
                            1,
                            "tex",
                            spec,
                            q,
                            data.name(),
                            data.fingerprint(),
                            c.steps(),
                            c.seed(),
                            Instant.now()));
            NDArray x = Features.images(data, new int[] {0, 1, 2}, 0, 3, m, m.getDevice());
            TokenizerFile.Loaded loaded = TokenizerFile.read(file, m);
            assertEquals(q.psnr(), loaded.header().quality().psnr(), 1e-9);
            NDArray tokens = t.tokenize(x);
            assertEquals(new Shape(3, 4, 4), tokens.getShape());
            assertArrayEquals(
                    tokens.toLongArray(), loaded.tokenizer().tokenize(x).toLongArray());
            assertArrayEquals(
                    t.decode(tokens).toFloatArray(),
                    loaded.tokenizer().decode(tokens).toFloatArray(),
                    1e-6f);
            assertTrue(t instanceof VqTokenizer);
        }
    }

    @Test
    void kmeansPatchTokenizerNeedsNoTraining() throws Exception {
        ImageDataset data = textures();
        TokenizerSpec spec = new TokenizerSpec("kmeans-patches", 16, 4, 16, 1, 0, 0);
        try (NDManager m = NDManager.newBaseManager()) {
            PatchKMeansTokenizer t = PatchKMeansTokenizer.fit(spec, data, 200, 15, 3, m);
            TokenizerQuality q = TokenizerQuality.measure(t, data, 64, m);
            assertTrue(q.psnr() > 15, "psnr " + q.psnr());
            Path file = dir.resolve("k.tok");
            TokenizerFile.write(
                    file,
                    t,
                    new TokenizerFile.Header(
                            "tokenizer", 1, "km", spec, q, data.name(), data.fingerprint(), 0, 3, Instant.now()));
            NDArray x = Features.images(data, new int[] {4, 5}, 0, 2, m, m.getDevice());
            assertArrayEquals(
                    t.tokenize(x).toLongArray(),
                    TokenizerFile.read(file, m).tokenizer().tokenize(x).toLongArray());
        }
    }
}
