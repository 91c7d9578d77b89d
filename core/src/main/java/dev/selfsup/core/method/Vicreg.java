package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import ai.djl.ndarray.NDArray;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.Losses;
import dev.selfsup.core.nn.ProjectionHead;

/**
 * VICReg (Bardes et al. 2022): the two views' projections are pulled together (invariance) while each dimension
 * keeps a standard deviation of at least 1 over the batch (variance) and the dimensions stay uncorrelated
 * (covariance). No negatives, no momentum encoder, no predictor, no normalisation of the projections.
 */
public final class Vicreg extends TwoViewMethod {
    /** VICReg, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
            "vicreg",
            "redundancy reduction: invariance, variance and covariance terms (Bardes et al. 2022)",
            new Settings(512, 256, 25f, 25f, 1f, 0.2f, 0.5f),
            (s, c) -> new Vicreg(
                    c.spec(),
                    Contrastive.views(c.spec(), s.cropScaleMin(), s.jitterStrength()),
                    s.projectionHidden(),
                    s.projectionDim(),
                    s.invarianceWeight(),
                    s.varianceWeight(),
                    s.covarianceWeight()));

    /**
     * VICReg's settings, with the paper's weights (25, 25, 1).
     *
     * @param projectionHidden hidden units of the projector
     * @param projectionDim output size of the projector
     * @param invarianceWeight the weight of the mean squared distance between the views
     * @param varianceWeight the weight of the standard-deviation hinge
     * @param covarianceWeight the weight of the off-diagonal covariances
     * @param cropScaleMin smallest area fraction of the random resized crop
     * @param jitterStrength colour-jitter strength s
     */
    public record Settings(
            int projectionHidden,
            int projectionDim,
            float invarianceWeight,
            float varianceWeight,
            float covarianceWeight,
            float cropScaleMin,
            float jitterStrength) {
        public Settings {
            Contrastive.checkSettings(projectionHidden, projectionDim, cropScaleMin, jitterStrength);
            require(invarianceWeight >= 0, "invariance_weight", "must be >= 0, got " + invarianceWeight);
            require(varianceWeight >= 0, "variance_weight", "must be >= 0, got " + varianceWeight);
            require(covarianceWeight >= 0, "covariance_weight", "must be >= 0, got " + covarianceWeight);
        }
    }

    private final float invarianceWeight;
    private final float varianceWeight;
    private final float covarianceWeight;

    public Vicreg(
            BackboneSpec spec,
            Augmentation views,
            int projectionHidden,
            int projectionDim,
            float invarianceWeight,
            float varianceWeight,
            float covarianceWeight) {
        super("vicreg", spec, Backbones.build(spec), views);
        this.invarianceWeight = invarianceWeight;
        this.varianceWeight = varianceWeight;
        this.covarianceWeight = covarianceWeight;
        model.add(encoder).add(ProjectionHead.mlp(projectionHidden, projectionDim, true));
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        NDArray[] z = outputsOfBothViews(ctx, images);
        return Losses.vicreg(z[0], z[1], invarianceWeight, varianceWeight, covarianceWeight);
    }
}
