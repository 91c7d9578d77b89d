package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.method.Beit;
import dev.selfsup.core.method.BlockwiseMasking;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.UnsuitableDataException;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.model.VisionTransformer;
import dev.selfsup.core.tokenizer.LocalTokenSource;
import dev.selfsup.core.tokenizer.PatchKMeansTokenizer;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.train.Provenance;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** BEiT's parts: blockwise masking, the loss over masked positions, the ViT, and the tokenizer check. */
class BeitTest {
    @TempDir
    Path dir;

    @Test
    void blockwiseMaskingMasksTheRequestedShareInBlocks() {
        BlockwiseMasking masking = new BlockwiseMasking(7, 0.4);
        assertEquals(20, masking.target());
        Random rng = new Random(3);
        double total = 0;
        for (int trial = 0; trial < 500; trial++) {
            boolean[] m = masking.sample(rng);
            int count = 0;
            for (int i = 0; i < 49; i++) {
                if (!m[i]) {
                    continue;
                }
                count++;
                int y = i / 7;
                int x = i % 7;
                boolean neighbour =
                        (y > 0 && m[i - 7]) || (y < 6 && m[i + 7]) || (x > 0 && m[i - 1]) || (x < 6 && m[i + 1]);
                assertTrue(neighbour, "masked patches come in blocks of at least " + masking.minBlock());
            }
            assertTrue(count <= 20 && count >= 20 - masking.minBlock(), "masked " + count);
            total += count;
        }
        assertEquals(0.4, total / 500 / 49, 0.03, "about 40% of the patches");
        BlockwiseMasking big = new BlockwiseMasking(14, 0.4);
        assertEquals(78, big.target());
        assertEquals(16, big.minBlock(), "BEiT's 16 of 196");
    }

    @Test
    void lossCountsOnlyMaskedPositions() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logits = m.randomNormal(new Shape(2, 3, 5));
            NDArray targets = m.create(new long[] {0, 1, 2, 3, 4, 0}, new Shape(2, 3));
            NDArray mask = m.create(new float[] {1, 0, 1, 0, 0, 1}, new Shape(2, 3));
            float loss = Beit.maskedCrossEntropy(logits, targets, mask).getFloat();
            // By hand: the mean of -log softmax at (0,0) target 0, (0,2) target 2, (1,2) target 0.
            float[] l = logits.logSoftmax(-1).toFloatArray();
            float expected = -(l[0] + l[2 * 5 + 2] + l[5 * 5 + 0]) / 3f;
            assertEquals(expected, loss, 1e-5f);
            NDArray changed = logits.duplicate();
            changed.set(new NDIndex("0, 1"), 100f); // an unmasked position
            changed.set(new NDIndex("1, 0"), -50f);
            assertEquals(loss, Beit.maskedCrossEntropy(changed, targets, mask).getFloat(), 1e-6f);
            changed.set(new NDIndex("1, 2"), 7f); // a masked one
            assertNotEquals(
                    loss, Beit.maskedCrossEntropy(changed, targets, mask).getFloat());
        }
    }

    @Test
    void vitShapesMaskTokenAndBundleRoundTrip() throws Exception {
        BackboneSpec spec = new BackboneSpec("vit", 64, 2, 1, 28, new float[] {0.3f}, new float[] {0.3f});
        assertEquals(4, spec.vitPatchSize());
        assertEquals(2, spec.vitHeads());
        assertEquals(64, spec.featureDim());
        try (NDManager m = NDManager.newBaseManager()) {
            VisionTransformer vit = (VisionTransformer) Backbones.build(spec);
            vit.initialize(m, DataType.FLOAT32, new Shape(2, 1, 28, 28));
            assertEquals(7, vit.gridSize());
            NDArray x = m.randomUniform(0f, 1f, new Shape(3, 1, 28, 28));
            ParameterStore ps = new ParameterStore(m, false);
            assertEquals(
                    new Shape(3, 64),
                    vit.forward(ps, new NDList(x), false).singletonOrThrow().getShape());
            NDArray none = m.zeros(new Shape(3, 49));
            NDArray all = m.ones(new Shape(3, 49));
            NDArray open = vit.forward(ps, new NDList(x, none), false).singletonOrThrow();
            assertEquals(new Shape(3, 49, 64), open.getShape());
            // With every patch masked the input no longer matters: both images give the same tokens.
            NDArray hidden = vit.forward(ps, new NDList(x, all), false).singletonOrThrow();
            assertArrayEquals(hidden.get(0).toFloatArray(), hidden.get(1).toFloatArray(), 1e-4f);
            assertNotEquals(open.get(0).sum().getFloat(), open.get(1).sum().getFloat());
            // Inference outside an NDScope leaves nothing behind in the model's manager (it once kept every
            // activation there: 24 GB over one evaluation).
            int before = ((BaseNDManager) m).getManagedArrays().size();
            try (NDManager batch = m.newSubManager()) {
                NDArray y = batch.randomUniform(0f, 1f, new Shape(4, 1, 28, 28));
                ParameterStore bps = new ParameterStore(batch, false);
                vit.forward(bps, new NDList(y), false);
                vit.forward(bps, new NDList(y, batch.ones(new Shape(4, 49))), false);
            }
            assertEquals(before, ((BaseNDManager) m).getManagedArrays().size(), "arrays left behind");
            Path file = dir.resolve("vit.bundle");
            EncoderBundle.write(
                    file,
                    vit,
                    spec,
                    new Provenance(
                            "none", spec, Map.of(), "none", "", 0, 0, 0, 0, "dev", "", "", "cpu", Instant.now()));
            var loaded = EncoderBundle.read(file, m);
            assertArrayEquals(
                    EncoderBundle.embed(vit, x).toFloatArray(),
                    EncoderBundle.embed(loaded.encoder(), x).toFloatArray(),
                    1e-5f);
        }
    }

    @Test
    void aTokenizerOfAnotherGridIsRefused() {
        ImageDataset data = PretrainerTest.tinyColour(); // 24 px RGB: a ViT grid of 6x6
        try (NDManager m = NDManager.newBaseManager()) {
            TokenizerSpec wrong = new TokenizerSpec("kmeans-patches", 8, 8, 24, 3, 0, 0); // 3x3 grid
            var t = PatchKMeansTokenizer.fit(wrong, data, 50, 5, 1, m);
            PretrainConfig c = PretrainerTest.config("beit", null);
            float[][] st = Pretrainer.channelStats(data);
            UnsuitableDataException e = assertThrows(
                    UnsuitableDataException.class,
                    () -> new Pretrainer(c, data, st[0], st[1], new MethodResources(n -> new LocalTokenSource(t, m))));
            assertTrue(e.getMessage().contains("grid does not match"), e.getMessage());
            assertThrows(
                    UnsuitableDataException.class, () -> new Pretrainer(c, data, st[0], st[1]), "no tokenizer source");
        }
    }
}
