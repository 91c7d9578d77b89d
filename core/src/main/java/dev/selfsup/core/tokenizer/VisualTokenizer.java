package dev.selfsup.core.tokenizer;

import ai.djl.ndarray.NDArray;

/**
 * Turns images into grids of discrete visual tokens and back: the targets of BEiT. An image of side S becomes an
 * {@code S/p x S/p} grid of ids in {@code [0, vocabularySize)}, token (i, j) describing the patch at (i, j).
 */
public interface VisualTokenizer {
    /** What the tokenizer is and what it reads. */
    TokenizerSpec spec();

    /** Token ids of images: float32 {@code [B, C, S, S]} in [0, 1] to int64 {@code [B, G, G]}. Inference only. */
    NDArray tokenize(NDArray images);

    /** Images from token ids: int64 {@code [B, G, G]} to float32 {@code [B, C, S, S]} in [0, 1]. */
    NDArray decode(NDArray tokens);

    /** Patches of side {@code p} as rows: {@code [B, C, S, S]} to {@code [B * G * G, C * p * p]}, row-major grid. */
    static NDArray patches(NDArray images, int p) {
        long b = images.getShape().get(0);
        long c = images.getShape().get(1);
        long g = images.getShape().get(2) / p;
        return images.reshape(b, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(b * g * g, c * p * p);
    }

    /** The inverse of {@link #patches}: rows {@code [B * G * G, C * p * p]} to images {@code [B, C, G p, G p]}. */
    static NDArray unpatch(NDArray rows, long b, int c, int g, int p) {
        return rows.reshape(b, g, g, c, p, p).transpose(0, 3, 1, 4, 2, 5).reshape(b, c, (long) g * p, (long) g * p);
    }
}
