package dev.selfsup.core.tokenizer;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;

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

    /** The device the tokenizer's weights live on; its inputs go there. */
    Device device();

    /**
     * Token ids of {@code n} images given as planar floats in [0, 1] ({@code n x C x S x S}, the spec's C and S):
     * {@code n x G x G} ids, row-major. What a service calls with pixels decoded from a request.
     */
    default long[] tokenize(float[] pixels, int n) {
        TokenizerSpec s = spec();
        try (NDManager m = NDManager.newBaseManager(device())) {
            NDArray x = m.create(pixels, new Shape(n, s.channels(), s.imageSize(), s.imageSize()));
            return tokenize(x).toType(DataType.INT64, false).toLongArray();
        }
    }

    /**
     * Images from {@code n} grids of ids ({@code n x G x G}, row-major), as 8-bit planar pixels
     * ({@code n x C x S x S}), rounded and clipped.
     */
    default byte[] decodeToBytes(long[] ids, int n) {
        int g = spec().gridSize();
        try (NDManager m = NDManager.newBaseManager(device())) {
            NDArray tokens = m.create(ids, new Shape(n, g, g));
            return Scalars.mul(decode(tokens), 255f)
                    .round()
                    .clip(0f, 255f)
                    .toType(DataType.UINT8, false)
                    .toByteArray();
        }
    }

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
