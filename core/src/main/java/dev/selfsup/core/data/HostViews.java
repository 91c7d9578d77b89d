package dev.selfsup.core.data;

import java.util.Random;
import java.util.SplittableRandom;

/**
 * Views a method crops from each source image on the host, when images are read from disk: every view is decoded
 * from the file at its own resolution, cropped there, then resized to the training size, as the SimCLR and MoCo
 * pipelines do. The device then applies the method's other augmentations.
 *
 * @param count views per image
 * @param crops draws one crop box for a source image
 */
public record HostViews(int count, CropSampler crops) {
    /** Draws a crop box for an image of {@code height x width} pixels. */
    @FunctionalInterface
    public interface CropSampler {
        /** The box as {top, left, height, width} in source pixels, inside the image. */
        int[] box(int height, int width, Random rng);
    }

    public HostViews {
        if (count < 1) {
            throw new IllegalArgumentException("at least one view, got " + count);
        }
    }

    /**
     * The random numbers of view {@code view} of the {@code k}-th image of step {@code step}: a pure function of its
     * arguments, so a resumed run crops exactly the same boxes.
     */
    public static Random random(long seed, long step, int view, int k) {
        long s = new SplittableRandom(seed ^ (step * 0x9E3779B97F4A7C15L)).nextLong();
        return new Random(new SplittableRandom(s + 0x632BE59BD9B4E019L * view + 0x85EBCA77C2B2AE63L * k).nextLong());
    }
}
