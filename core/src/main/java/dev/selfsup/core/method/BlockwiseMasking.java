package dev.selfsup.core.method;

import java.util.Random;

/**
 * BEiT's blockwise masking: rectangles of random area (at least {@code minBlock} patches) and aspect ratio
 * (0.3 to 1/0.3) are added until about {@code ratio} of the grid is masked. A block is accepted only if it masks
 * at least one new patch and no more than are still wanted, so the count never overshoots; it may stop a few
 * patches short when no block fits the remainder, as in the reference implementation.
 */
public final class BlockwiseMasking {
    private final int grid;
    private final int target;
    private final int minBlock;

    /**
     * @param grid patches per side
     * @param ratio the share of patches to mask (0.4 in BEiT)
     * @param minBlock the smallest block in patches (16 of 196 in BEiT; scaled to the grid by default)
     */
    public BlockwiseMasking(int grid, double ratio, int minBlock) {
        if (!(ratio > 0 && ratio < 1)) {
            throw new IllegalArgumentException("mask_ratio: must be in (0, 1), got " + ratio);
        }
        this.grid = grid;
        this.target = (int) Math.round(ratio * grid * grid);
        this.minBlock = Math.max(1, minBlock);
    }

    /** With BEiT's smallest block scaled to the grid: 16 of 196 patches, i.e. about 8%. */
    public BlockwiseMasking(int grid, double ratio) {
        this(grid, ratio, Math.max(2, Math.round(16f / 196f * grid * grid)));
    }

    /** Patches the masking aims for. */
    public int target() {
        return target;
    }

    public int minBlock() {
        return minBlock;
    }

    /** One mask, row-major over the grid: true for a masked patch. */
    public boolean[] sample(Random rng) {
        boolean[] mask = new boolean[grid * grid];
        int count = 0;
        while (count < target) {
            int delta = addBlock(mask, target - count, rng);
            if (delta == 0) {
                break;
            }
            count += delta;
        }
        return mask;
    }

    private int addBlock(boolean[] mask, int maxNew, Random rng) {
        double logLow = Math.log(0.3);
        double logHigh = Math.log(1 / 0.3);
        for (int attempt = 0; attempt < 10; attempt++) {
            double area = minBlock + rng.nextDouble() * Math.max(0, maxNew - minBlock);
            double aspect = Math.exp(logLow + rng.nextDouble() * (logHigh - logLow));
            int h = (int) Math.round(Math.sqrt(area * aspect));
            int w = (int) Math.round(Math.sqrt(area / aspect));
            if (h < 1 || w < 1 || h >= grid || w >= grid) {
                continue;
            }
            int top = rng.nextInt(grid - h + 1);
            int left = rng.nextInt(grid - w + 1);
            int fresh = 0;
            for (int y = top; y < top + h; y++) {
                for (int x = left; x < left + w; x++) {
                    fresh += mask[y * grid + x] ? 0 : 1;
                }
            }
            if (fresh > 0 && fresh <= maxNew) {
                for (int y = top; y < top + h; y++) {
                    for (int x = left; x < left + w; x++) {
                        mask[y * grid + x] = true;
                    }
                }
                return fresh;
            }
        }
        return 0;
    }
}
