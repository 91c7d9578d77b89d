package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import ai.djl.ndarray.NDArray;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.augment.RandomResizedCrop;
import dev.selfsup.core.data.HostViews;
import dev.selfsup.core.model.BackboneSpec;

/** What SimCLR and MoCo v2 share: the checks of their common settings and their two-view augmentation. */
final class Contrastive {
    private Contrastive() {}

    /** The settings every two-view method has: its projection head and its views. */
    static void checkSettings(int projectionHidden, int projectionDim, float cropScaleMin, float jitterStrength) {
        require(projectionHidden > 0, "projection_hidden", "must be positive, got " + projectionHidden);
        require(projectionDim > 0, "projection_dim", "must be positive, got " + projectionDim);
        SettingChecks.requireCropScale(cropScaleMin);
        require(jitterStrength >= 0, "jitter_strength", "must be >= 0, got " + jitterStrength);
    }

    /** A softmax temperature (SimCLR's, MoCo's, DINO's student's). */
    static void checkTemperature(float temperature) {
        require(temperature > 0, "temperature", "must be positive, got " + temperature);
    }

    /**
     * Two views as the host and the device share them when images are read from disk: the random resized crop,
     * drawn on the host from the source image, and the remaining augmentations on the device.
     *
     * @param host the host's part, or null when the views do not begin with a crop (then the device does it all)
     * @param afterCrop what the device applies to a view cropped on the host
     */
    record HostSplit(HostViews host, Augmentation afterCrop) {}

    static HostSplit hostSplit(Augmentation views) {
        if (views instanceof AugmentationPipeline p
                && !p.steps().isEmpty()
                && p.steps().get(0) instanceof RandomResizedCrop crop) {
            HostViews host = new HostViews(2, (height, width, rng) -> {
                RandomResizedCrop.Box b = crop.sample(height, width, rng);
                return new int[] {(int) b.top(), (int) b.left(), (int) b.height(), (int) b.width()};
            });
            return new HostSplit(
                    host,
                    new AugmentationPipeline(p.steps().subList(1, p.steps().size())));
        }
        return new HostSplit(null, views);
    }

    /** View {@code v} of a step: cropped on the host if it was, else drawn whole from the batch on the device. */
    static NDArray view(StepContext ctx, int v, NDArray images, Augmentation views, HostSplit split) {
        if (ctx.views().isEmpty()) {
            return views.apply(images, ctx.rng());
        }
        return split.afterCrop().apply(ctx.views().get(v), ctx.rng());
    }

    static AugmentationPipeline views(BackboneSpec spec, float cropScaleMin, float jitterStrength) {
        return AugmentationPipeline.contrastive(spec.channels(), spec.imageSize(), cropScaleMin, jitterStrength);
    }
}
