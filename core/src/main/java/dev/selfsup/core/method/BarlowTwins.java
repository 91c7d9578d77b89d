package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import ai.djl.ndarray.NDArray;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.Losses;
import dev.selfsup.core.nn.ProjectionHead;

/**
 * Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' projections, standardised over the
 * batch, is pulled towards the identity: each dimension agrees across the views (diagonal at 1) and carries what
 * the others do not (off-diagonal at 0). No negatives, no momentum encoder, no predictor.
 */
public final class BarlowTwins extends TwoViewMethod {
    /** Barlow Twins, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
            "barlow-twins",
            "redundancy reduction: the views' cross-correlation pulled to the identity (Zbontar et al. 2021)",
            new Settings(512, 256, 0.0051f, 0.2f, 0.5f),
            (s, c) -> new BarlowTwins(
                    c.spec(),
                    Contrastive.views(c.spec(), s.cropScaleMin(), s.jitterStrength()),
                    s.projectionHidden(),
                    s.projectionDim(),
                    s.redundancyWeight()));

    /**
     * Barlow Twins' settings.
     *
     * @param projectionHidden hidden units of the projector
     * @param projectionDim output size of the projector: the side of the cross-correlation matrix
     * @param redundancyWeight the weight of the off-diagonal terms (the paper's lambda)
     * @param cropScaleMin smallest area fraction of the random resized crop
     * @param jitterStrength colour-jitter strength s
     */
    public record Settings(
            int projectionHidden, int projectionDim, float redundancyWeight, float cropScaleMin, float jitterStrength) {
        public Settings {
            Contrastive.checkSettings(projectionHidden, projectionDim, cropScaleMin, jitterStrength);
            require(redundancyWeight >= 0, "redundancy_weight", "must be >= 0, got " + redundancyWeight);
        }
    }

    private final float redundancyWeight;

    public BarlowTwins(
            BackboneSpec spec, Augmentation views, int projectionHidden, int projectionDim, float redundancyWeight) {
        super("barlow-twins", spec, Backbones.build(spec), views);
        this.redundancyWeight = redundancyWeight;
        model.add(encoder).add(ProjectionHead.mlp(projectionHidden, projectionDim, true));
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        NDArray[] z = outputsOfBothViews(ctx, images);
        return Losses.barlowTwins(z[0], z[1], redundancyWeight);
    }
}
