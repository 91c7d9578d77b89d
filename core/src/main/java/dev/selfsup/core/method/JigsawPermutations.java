package dev.selfsup.core.method;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The permutation set of the jigsaw task (Noroozi and Favaro 2016): permutations of 9 tiles chosen greedily so
 * that each new one is as far as possible, in Hamming distance, from all chosen so far (the max-min variant of
 * the paper's algorithm). The set is a pure function of its size and seed.
 */
public final class JigsawPermutations {
    private static final int TILES = 9;
    private static final byte[] ALL = allPermutations();

    private JigsawPermutations() {}

    /** Every permutation of 0..8, 9! of them, 9 bytes each, in lexicographic order. */
    private static byte[] allPermutations() {
        int count = 362_880;
        byte[] out = new byte[count * TILES];
        byte[] p = {0, 1, 2, 3, 4, 5, 6, 7, 8};
        for (int n = 0; n < count; n++) {
            System.arraycopy(p, 0, out, n * TILES, TILES);
            nextPermutation(p);
        }
        return out;
    }

    private static void nextPermutation(byte[] p) {
        int i = p.length - 2;
        while (i >= 0 && p[i] >= p[i + 1]) {
            i--;
        }
        if (i < 0) {
            return;
        }
        int j = p.length - 1;
        while (p[j] <= p[i]) {
            j--;
        }
        byte t = p[i];
        p[i] = p[j];
        p[j] = t;
        for (int a = i + 1, b = p.length - 1; a < b; a++, b--) {
            t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }

    /**
     * {@code count} permutations of 9 tiles at maximal minimum Hamming distance.
     *
     * @return {@code count x 9}; row r: input position j shows the tile of grid cell {@code r[j]}
     */
    public static int[][] generate(int count, long seed) {
        int total = ALL.length / TILES;
        if (count < 2 || count > total) {
            throw new IllegalArgumentException("permutation set size must be in [2, " + total + "], got " + count);
        }
        SplittableRandom rng = new SplittableRandom(seed);
        byte[] minDistance = new byte[total];
        Arrays.fill(minDistance, Byte.MAX_VALUE);
        int[][] chosen = new int[count][];
        int next = rng.nextInt(total);
        for (int c = 0; c < count; c++) {
            chosen[c] = row(next);
            int base = next * TILES;
            int best = -1;
            int bestDistance = -1;
            int start = rng.nextInt(total); // ties go to the first candidate after a seeded offset
            for (int k = 0; k < total; k++) {
                int cand = (start + k) % total;
                int o = cand * TILES;
                int d = 0;
                for (int t = 0; t < TILES; t++) {
                    if (ALL[o + t] != ALL[base + t]) {
                        d++;
                    }
                }
                if (d < minDistance[cand]) {
                    minDistance[cand] = (byte) d;
                }
                if (minDistance[cand] > bestDistance) {
                    bestDistance = minDistance[cand];
                    best = cand;
                }
            }
            next = best;
        }
        return chosen;
    }

    private static int[] row(int index) {
        int[] r = new int[TILES];
        for (int t = 0; t < TILES; t++) {
            r[t] = ALL[index * TILES + t];
        }
        return r;
    }

    /** The number of positions where two permutations differ. */
    public static int hamming(int[] a, int[] b) {
        int d = 0;
        for (int i = 0; i < a.length; i++) {
            if (a[i] != b[i]) {
                d++;
            }
        }
        return d;
    }

    /** The smallest Hamming distance between two permutations of the set. */
    public static int minimumDistance(int[][] set) {
        int min = Integer.MAX_VALUE;
        for (int i = 0; i < set.length; i++) {
            for (int j = i + 1; j < set.length; j++) {
                min = Math.min(min, hamming(set[i], set[j]));
            }
        }
        return min;
    }
}
