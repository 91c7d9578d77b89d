package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Augmentations applied in order. Intermediate arrays belong to the input's manager and are freed with it. */
public final class AugmentationPipeline implements Augmentation {
    private final List<Augmentation> steps;

    public AugmentationPipeline(List<Augmentation> steps) {
        this.steps = List.copyOf(steps);
    }

    public List<Augmentation> steps() {
        return steps;
    }

    @Override
    public NDArray apply(NDArray images, Random rng) {
        NDArray x = images;
        for (Augmentation a : steps) {
            x = a.apply(x, rng);
        }
        return x;
    }

    /**
     * The contrastive views of SimCLR and MoCo v2 (Chen et al. 2020): random resized crop, horizontal flip,
     * colour jitter with p 0.8, random greyscale with p 0.2 and, for images of 32 px and more, a Gaussian
     * blur with p 0.5 (small images lose too much to it).
     *
     * @param strength colour-jitter strength s: brightness, contrast and saturation 0.8s, hue 0.2s
     */
    public static AugmentationPipeline contrastive(int channels, int size, double cropScaleMin, double strength) {
        return contrastive(channels, size, cropScaleMin, 1.0, strength);
    }

    /**
     * The contrastive views with crops of {@code cropScaleMin} to {@code cropScaleMax} of the area resized to
     * {@code size}: multi-crop's small local views are such crops (DINO: 5% to 40%, at about half the side).
     */
    public static AugmentationPipeline contrastive(
            int channels, int size, double cropScaleMin, double cropScaleMax, double strength) {
        var steps = new ArrayList<Augmentation>();
        steps.add(new RandomResizedCrop(size, cropScaleMin, cropScaleMax));
        steps.add(new HorizontalFlip(0.5));
        steps.add(new ColorJitter(
                0.8 * strength,
                0.8 * strength,
                channels == 3 ? 0.8 * strength : 0,
                channels == 3 ? 0.2 * strength : 0,
                0.8));
        if (channels == 3) {
            steps.add(new RandomGrayscale(0.2));
        }
        if (size >= 32) {
            int k = Math.max(3, (size / 10) | 1);
            steps.add(new GaussianBlur(k, 0.1, 2.0, 0.5));
        }
        return new AugmentationPipeline(steps);
    }

    /**
     * The light augmentation of the pretext tasks and DeepCluster: a random resized crop of at least
     * {@code cropScaleMin} of the area, and a horizontal flip with p 0.5.
     */
    public static AugmentationPipeline cropFlip(int size, double cropScaleMin) {
        return new AugmentationPipeline(
                List.of(new RandomResizedCrop(size, cropScaleMin, 1.0), new HorizontalFlip(0.5)));
    }
}
