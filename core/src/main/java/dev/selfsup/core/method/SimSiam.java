package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.ParallelBlock;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.Losses;
import dev.selfsup.core.nn.ProjectionHead;
import java.util.List;
import java.util.Map;

/**
 * SimSiam (Chen and He 2021): one network (encoder, projector) for both views and a predictor on top; each view's
 * prediction regresses the other view's projection, which is held fixed (stop-gradient). No negatives, no momentum
 * encoder: the stop-gradient alone keeps the representations from collapsing. With {@code local_crops}, multi-crop:
 * each small view's prediction regresses the projections of both full views. Loss: minus the mean cosine, both
 * ways (from -1 at perfect agreement).
 */
public final class SimSiam extends TwoViewMethod {
    /** SimSiam, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "simsiam",
                    "siamese: a predictor regresses the other view's projection behind a stop-gradient"
                            + " (Chen and He 2021)",
                    new Settings(512, 128, 64, 0.2f, 0.5f, 0, 0),
                    (s, c) -> new SimSiam(
                            c.spec(),
                            Contrastive.views(c.spec(), s.cropScaleMin(), s.jitterStrength()),
                            s.projectionHidden(),
                            s.projectionDim(),
                            s.predictorHidden(),
                            new LocalViews(
                                    c.spec(), s.localCrops(), s.localCropSize(), s.cropScaleMin(), s.jitterStrength())))
            .withCheck((s, spec, data) -> LocalViews.checkBackbone(s.localCrops(), s.localCropSize(), spec));

    /**
     * SimSiam's settings. The predictor is a bottleneck (a quarter of the projection, as in the paper).
     *
     * @param projectionHidden hidden units of the projector
     * @param projectionDim output size of the projector and the predictor
     * @param predictorHidden hidden units of the predictor
     * @param cropScaleMin smallest area fraction of the random resized crop
     * @param jitterStrength colour-jitter strength s
     * @param localCrops multi-crop's small views per image, whose predictions regress both full views' projections
     *     (0: two views only)
     * @param localCropSize their side in pixels (0: about half the image's, at least 8)
     */
    public record Settings(
            int projectionHidden,
            int projectionDim,
            int predictorHidden,
            float cropScaleMin,
            float jitterStrength,
            int localCrops,
            int localCropSize) {
        public Settings {
            Contrastive.checkSettings(projectionHidden, projectionDim, cropScaleMin, jitterStrength);
            LocalViews.checkSettings(localCrops, localCropSize, cropScaleMin);
            require(predictorHidden > 0, "predictor_hidden", "must be positive, got " + predictorHidden);
        }
    }

    private final int projectionDim;
    private final LocalViews localViews;

    /** @param localViews multi-crop's small views (none when its count is 0) */
    SimSiam(
            BackboneSpec spec,
            Augmentation views,
            int projectionHidden,
            int projectionDim,
            int predictorHidden,
            LocalViews localViews) {
        super("simsiam", spec, Backbones.build(spec), views);
        this.projectionDim = projectionDim;
        this.localViews = localViews;
        // One forward pass gives both the projection z and the prediction p, side by side: [z | p].
        Block projectionAndPrediction = new ParallelBlock(
                outputs -> new NDList(NDArrays.concat(
                        new NDList(
                                outputs.get(0).singletonOrThrow(),
                                outputs.get(1).singletonOrThrow()),
                        1)),
                List.of(new LambdaBlock(x -> x), ProjectionHead.mlp(predictorHidden, projectionDim, true)));
        model.add(encoder)
                .add(ProjectionHead.mlp(projectionHidden, projectionDim, true))
                .add(projectionAndPrediction);
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        NDArray v1 = view(ctx, 0, images);
        NDArray v2 = view(ctx, 1, images);
        NDArray out = ctx.forward(model, v1, v2);
        NDArray z = out.get(":, 0:" + projectionDim).stopGradient();
        NDArray p = out.get(":, " + projectionDim + ":");
        // Each view's prediction regresses the other view's projection, both ways; local views' predictions regress
        // both full views' projections.
        NDArray cosine = Losses.meanCosine(p, Losses.otherView(z));
        if (localViews.count() > 0) {
            NDArray local = ctx.forward(model, localViews.draw(ctx, images));
            cosine = localViews.meanCosineOfAllPairs(cosine, local.get(":, " + projectionDim + ":"), z);
        }
        return cosine.neg();
    }

    @Override
    public Map<String, Object> derivedValues() {
        return localViews.count() > 0 ? localViews.derivedValues() : Map.of();
    }
}
