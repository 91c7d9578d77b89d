package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.model.BackboneSpec;

/** What SimCLR and MoCo v2 share: the checks of their common settings and their two-view augmentation. */
final class Contrastive {
    private Contrastive() {}

    static void checkSettings(
            int projectionHidden, int projectionDim, float temperature, float cropScaleMin, float jitterStrength) {
        require(projectionHidden > 0, "projection_hidden", "must be positive, got " + projectionHidden);
        require(projectionDim > 0, "projection_dim", "must be positive, got " + projectionDim);
        require(temperature > 0, "temperature", "must be positive, got " + temperature);
        SettingChecks.requireCropScale(cropScaleMin);
        require(jitterStrength >= 0, "jitter_strength", "must be >= 0, got " + jitterStrength);
    }

    static AugmentationPipeline views(BackboneSpec spec, float cropScaleMin, float jitterStrength) {
        return AugmentationPipeline.contrastive(spec.channels(), spec.imageSize(), cropScaleMin, jitterStrength);
    }
}
