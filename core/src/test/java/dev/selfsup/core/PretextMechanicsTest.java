package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.method.Jigsaw;
import dev.selfsup.core.method.JigsawPermutations;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.method.PatchGrid;
import dev.selfsup.core.method.Rotation;
import dev.selfsup.core.method.UnsuitableDataException;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.Pretrainer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The mechanics of the pretext tasks: patch sampling, permutation sets, rotations, and what data they refuse. */
class PretextMechanicsTest {
    @ParameterizedTest
    @ValueSource(ints = {18, 24, 28, 32, 64, 96, 224})
    void patchesStayInsideTheImageAndNeverTouch(int size) {
        PatchGrid g = new PatchGrid(size);
        assertTrue(g.patchSize() >= 2, "patch " + g.patchSize());
        assertTrue(g.minimumSeparation() >= 1, "separation " + g.minimumSeparation());
        Random rng = new Random(5);
        for (int trial = 0; trial < 2000; trial++) {
            int[][] tl = new int[9][];
            for (int pos = 0; pos < 9; pos++) {
                tl[pos] = g.sample(pos, rng);
                assertTrue(tl[pos][0] >= 0 && tl[pos][1] >= 0, "inside at the top left");
                assertTrue(tl[pos][0] + g.patchSize() <= size && tl[pos][1] + g.patchSize() <= size, "inside");
            }
            for (int pos = 0; pos < 9; pos++) {
                if (pos % 3 < 2) { // right neighbour: a gap of at least one column between them
                    assertTrue(tl[pos + 1][1] - (tl[pos][1] + g.patchSize()) >= 1);
                }
                if (pos < 6) { // neighbour below
                    assertTrue(tl[pos + 3][0] - (tl[pos][0] + g.patchSize()) >= 1);
                }
            }
        }
    }

    @Test
    void cutPatchesAreExactCopiesOfTheirPixels() {
        PatchGrid g = new PatchGrid(28);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray images = m.randomUniform(0f, 1f, new Shape(3, 2, 28, 28));
            int[][] positions = {{4, 0}, {4, 8}, {2, 6}};
            NDArray patches = g.cut(images, positions, new Random(9));
            assertEquals(new Shape(6, 2, g.patchSize(), g.patchSize()), patches.getShape());
            Random replay = new Random(9); // the same draws as cut made
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 2; j++) {
                    int[] tl = g.sample(positions[i][j], replay);
                    NDArray expected = images.get(i + ", :, " + tl[0] + ":" + (tl[0] + g.patchSize()) + ", " + tl[1]
                            + ":" + (tl[1] + g.patchSize()));
                    assertArrayEquals(
                            expected.toFloatArray(), patches.get(i * 2 + j).toFloatArray(), 1e-6f);
                }
            }
        }
    }

    @Test
    void permutationSetsAreDistinctFarApartAndRepeatable() {
        int[][] set = JigsawPermutations.generate(100, 42);
        Set<String> seen = new HashSet<>();
        for (int[] p : set) {
            int[] sorted = p.clone();
            Arrays.sort(sorted);
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8}, sorted, "a permutation of the 9 tiles");
            assertTrue(seen.add(Arrays.toString(p)), "distinct");
        }
        // Greedy max-min choice: any two of the 100 permutations differ in at least 6 of 9 positions; 100 random
        // permutations have pairs differing in only 2 or 3.
        int min = JigsawPermutations.minimumDistance(set);
        assertTrue(min >= 6, "min distance " + min);
        int[][] random = new int[100][];
        Random rng = new Random(1);
        for (int i = 0; i < random.length; i++) {
            List<Integer> tiles = new ArrayList<>(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8));
            Collections.shuffle(tiles, rng);
            random[i] = tiles.stream().mapToInt(Integer::intValue).toArray();
        }
        assertTrue(
                JigsawPermutations.minimumDistance(random) <= 3,
                "random: " + JigsawPermutations.minimumDistance(random));
        assertArrayEquals(set[57], JigsawPermutations.generate(100, 42)[57], "a pure function of size and seed");
        assertNotEquals(Arrays.toString(set[1]), Arrays.toString(JigsawPermutations.generate(100, 7)[1]));
        int[][] big = JigsawPermutations.generate(1000, 42);
        assertTrue(JigsawPermutations.minimumDistance(big) >= 5, "1000: " + JigsawPermutations.minimumDistance(big));
        System.out.println("jigsaw permutations: min Hamming distance " + min + " for 100, "
                + JigsawPermutations.minimumDistance(big) + " for 1000");
    }

    @Test
    void jigsawKeepsItsPermutationSetInTheCheckpointState() {
        BackboneSpec spec = new BackboneSpec("small-convnet", 4, 1, 1, 24, new float[] {0.5f}, new float[] {0.25f});
        Jigsaw j = new Jigsaw(spec, 20, 3, 16);
        try (NDManager m = NDManager.newBaseManager()) {
            j.initialize(m, new Shape(1, 24, 24));
            NDArray saved = j.state().get("permutations");
            assertEquals(new Shape(20, 9), saved.getShape());
            assertArrayEquals(j.permutations()[19], Arrays.copyOfRange(saved.toIntArray(), 171, 180));
        }
    }

    @Test
    void rotationsByQuarterTurnsAreExact() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomUniform(0f, 1f, new Shape(2, 3, 5, 5));
            NDArray four = Rotation.fourRotations(x);
            assertEquals(new Shape(8, 3, 5, 5), four.getShape());
            assertArrayEquals(x.toFloatArray(), four.get("0:2").toFloatArray(), 0f, "0 degrees is the image");
            float[] src = x.toFloatArray();
            float[] r90 = four.get("2:4").toFloatArray();
            // 90 degrees counter-clockwise: out[y][x] = in[x][W-1-y], pixel for pixel, no interpolation.
            for (int b = 0; b < 2; b++) {
                for (int c = 0; c < 3; c++) {
                    for (int y = 0; y < 5; y++) {
                        for (int xx = 0; xx < 5; xx++) {
                            int o = ((b * 3 + c) * 5 + y) * 5 + xx;
                            int i = ((b * 3 + c) * 5 + xx) * 5 + (4 - y);
                            assertEquals(src[i], r90[o], 0f);
                        }
                    }
                }
            }
            NDArray back = four.get("6:8").rotate90(1, new int[] {2, 3}); // 270 + 90 = 360
            assertArrayEquals(src, back.toFloatArray(), 0f);
            assertArrayEquals(
                    new long[] {0, 0, 1, 1, 2, 2, 3, 3},
                    Rotation.rotationLabels(m, 2).toLongArray());
        }
    }

    @Test
    void colorizationRefusesGrayscaleData() {
        ImageDataset grey = PretrainerTest.tiny();
        PretrainConfig c = PretrainerTest.config("colorization", null);
        float[][] st = Pretrainer.channelStats(grey);
        UnsuitableDataException e =
                assertThrows(UnsuitableDataException.class, () -> new Pretrainer(c, grey, st[0], st[1]));
        assertTrue(
                e.getMessage().contains("needs colour images") && e.getMessage().contains("1 channel"), e.getMessage());
        // Grey pictures stored as RGB are refused too.
        int n = grey.size();
        byte[] rgb = new byte[n * 3 * 144];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < 3; ch++) {
                for (int p = 0; p < 144; p++) {
                    rgb[(i * 3 + ch) * 144 + p] = (byte) grey.pixel(i, 0, p / 12, p % 12);
                }
            }
        }
        ImageDataset greyRgb = new ImageDataset("grey-rgb", rgb, null, n, 3, 12, 12, List.of());
        float[][] st3 = Pretrainer.channelStats(greyRgb);
        e = assertThrows(UnsuitableDataException.class, () -> new Pretrainer(c, greyRgb, st3[0], st3[1]));
        assertTrue(e.getMessage().contains("grey"), e.getMessage());
    }

    @Test
    void everyNamedMethodIsBuilt() {
        for (String name : Methods.NAMES) {
            ImageDataset d = PretrainerTest.dataFor(name);
            float[][] st = Pretrainer.channelStats(d);
            try (NDManager m = NDManager.newBaseManager();
                    Pretrainer p = new Pretrainer(
                            PretrainerTest.config(name, null), d, st[0], st[1], PretrainerTest.resourcesFor(d, m))) {
                assertEquals(name, p.method().name());
            }
        }
    }
}
