package dev.selfsup.core.tokenizer;

import dev.selfsup.core.model.BackboneSpec;
import java.util.Locale;

/**
 * What a visual tokenizer is, enough to build it again.
 *
 * @param kind {@link #VQ} (a trained VQ autoencoder) or {@link #KMEANS_PATCHES} (k-means over patch pixels)
 * @param vocabularySize number of distinct tokens K
 * @param patchSize side p of the patch a token describes
 * @param imageSize side S of the images it reads (a multiple of p)
 * @param channels 1 or 3
 * @param codeDim dimension of the code vectors (VQ only)
 * @param hidden channels of the convolutional encoder and decoder (VQ only)
 */
public record TokenizerSpec(
        String kind, int vocabularySize, int patchSize, int imageSize, int channels, int codeDim, int hidden) {
    public static final String VQ = "vq";
    public static final String KMEANS_PATCHES = "kmeans-patches";

    public TokenizerSpec {
        kind = kind.toLowerCase(Locale.ROOT);
        if (!VQ.equals(kind) && !KMEANS_PATCHES.equals(kind)) {
            throw new IllegalArgumentException(
                    "kind: unknown tokenizer kind '" + kind + "': use " + VQ + " or " + KMEANS_PATCHES);
        }
        if (vocabularySize < 2 || vocabularySize > 65536) {
            throw new IllegalArgumentException("vocabulary_size: must be in [2, 65536], got " + vocabularySize);
        }
        if (patchSize < 1 || imageSize % patchSize != 0) {
            throw new IllegalArgumentException("patch_size: " + patchSize + " must divide the image side " + imageSize);
        }
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        }
        if (VQ.equals(kind) && (codeDim < 1 || hidden < 1)) {
            throw new IllegalArgumentException("code_dim and hidden must be positive");
        }
    }

    /**
     * The defaults for images of side {@code imageSize}: a VQ tokenizer of 512 tokens, 32-dimensional codes, 128
     * hidden channels, and the patch side of the ViT that will read its tokens.
     */
    public static TokenizerSpec defaults(int imageSize, int channels) {
        return new TokenizerSpec(VQ, 512, BackboneSpec.vitPatchSize(imageSize), imageSize, channels, 32, 128);
    }

    /** Tokens per side: S / p. */
    public int gridSize() {
        return imageSize / patchSize;
    }
}
