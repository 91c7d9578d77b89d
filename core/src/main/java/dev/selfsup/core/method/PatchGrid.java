package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import dev.selfsup.core.augment.RandomResizedCrop;
import java.util.Random;

/**
 * A 3x3 grid of square patches over an image, for context prediction and jigsaw. Each patch lies inside its
 * cell with a gap around it and a random jitter, as Doersch et al. and Noroozi and Favaro do, so that no two
 * neighbouring patches touch: the network cannot solve the task by continuing lines or textures across an edge.
 *
 * <p>Patches are cut at the image's own scale (no resampling), so the encoder learns at the scale it is later
 * evaluated at.
 */
public final class PatchGrid {
    private final int imageSize;
    private final int cell;
    private final int patch;
    private final int gap;
    private final int jitter;
    private final int origin;

    /**
     * Cells of a third of the image; patches of two thirds of a cell (the paper's 96 px patches with 48 px
     * gaps); jitter up to just under half the gap, so at least one pixel always separates neighbours.
     */
    public PatchGrid(int imageSize) {
        if (imageSize < 18) {
            // Smaller grids give patches under 4 px, which the encoders' two or three poolings reduce to nothing.
            throw new IllegalArgumentException(
                    "images of " + imageSize + " px are too small for a 3x3 grid of patches " + "(at least 18 px)");
        }
        this.imageSize = imageSize;
        this.cell = imageSize / 3;
        this.gap = Math.max(2, Math.round(cell / 3f));
        this.patch = cell - gap;
        this.jitter = (gap - 1) / 2;
        this.origin = (imageSize - 3 * cell) / 2;
    }

    public int patchSize() {
        return patch;
    }

    public int cellSize() {
        return cell;
    }

    public int gap() {
        return gap;
    }

    public int jitter() {
        return jitter;
    }

    /** The smallest number of pixels between two neighbouring patches, whatever the jitter. */
    public int minimumSeparation() {
        return gap - 2 * jitter;
    }

    /**
     * Draws the top-left corner of the patch of grid cell {@code position} (0..8, row-major).
     *
     * @return {top, left} in image pixels
     */
    public int[] sample(int position, Random rng) {
        int row = position / 3;
        int col = position % 3;
        int base = gap / 2;
        int top = origin + row * cell + base + rng.nextInt(2 * jitter + 1) - jitter;
        int left = origin + col * cell + base + rng.nextInt(2 * jitter + 1) - jitter;
        return new int[] {top, left};
    }

    /**
     * Cuts patches: for image {@code i} of the batch, the patches of cells {@code positions[i][0..k)}.
     *
     * @param images {@code [B, C, H, W]}
     * @param positions {@code B x k} grid cells
     * @return {@code [B * k, C, patch, patch]}; row {@code i * k + j} is image i's patch of cell positions[i][j]
     */
    public NDArray cut(NDArray images, int[][] positions, Random rng) {
        int b = positions.length;
        int k = positions[0].length;
        if (images.getShape().get(2) != imageSize || images.getShape().get(3) != imageSize) {
            throw new IllegalArgumentException("patch grid for " + imageSize + " px images got " + images.getShape());
        }
        float[] tops = new float[b * k];
        float[] lefts = new float[b * k];
        float[] sizes = new float[b * k];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < k; j++) {
                int[] tl = sample(positions[i][j], rng);
                tops[i * k + j] = tl[0];
                lefts[i * k + j] = tl[1];
                sizes[i * k + j] = patch;
            }
        }
        // A box of exactly the output size at integer coordinates is an exact copy of the pixels.
        return RandomResizedCrop.crop(images.repeat(0, k), tops, lefts, sizes, sizes, patch, patch);
    }
}
