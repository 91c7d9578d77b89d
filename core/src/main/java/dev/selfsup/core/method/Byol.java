package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.Losses;
import dev.selfsup.core.nn.ProjectionHead;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * BYOL (Grill et al. 2020): an online network (encoder, projector, predictor) learns to predict, for one view of an
 * image, the projection that a target network (encoder and projector) gives for the other view. The target gets
 * no gradient; it follows the online network as an exponential moving average whose momentum rises from
 * {@code target_momentum} to 1 along a cosine over the run. No negatives: the loss is 2 - 2 cos(p, z'), both ways.
 * With {@code local_crops}, multi-crop: the online network also predicts, from each small view, the target's
 * projections of both full views.
 * The target network is part of {@link #state()}, so a resumed run continues exactly.
 */
public final class Byol extends TwoViewMethod {
    /** BYOL, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "byol",
                    "bootstrap: a predictor regresses a momentum target's projection of the other view"
                            + " (Grill et al. 2020)",
                    new Settings(512, 128, 512, 0.99f, 0.2f, 0.5f, 0, 0),
                    (s, c) -> new Byol(
                            c.spec(),
                            Contrastive.views(c.spec(), s.cropScaleMin(), s.jitterStrength()),
                            s.projectionHidden(),
                            s.projectionDim(),
                            s.predictorHidden(),
                            s.targetMomentum(),
                            c.totalSteps(),
                            new LocalViews(
                                    c.spec(), s.localCrops(), s.localCropSize(), s.cropScaleMin(), s.jitterStrength())))
            .withCheck((s, spec, data) -> LocalViews.checkBackbone(s.localCrops(), s.localCropSize(), spec))
            .withDataParallel();

    /**
     * BYOL's settings. The base momentum is 0.99 (the paper's 0.996 is for runs of hundreds of epochs: short runs
     * need the target to follow faster).
     *
     * @param projectionHidden hidden units of the projector
     * @param projectionDim output size of the projector and the predictor
     * @param predictorHidden hidden units of the predictor
     * @param targetMomentum the target's EMA coefficient at the first step; it rises to 1 along a cosine
     * @param cropScaleMin smallest area fraction of the random resized crop
     * @param jitterStrength colour-jitter strength s
     * @param localCrops multi-crop's small views per image, seen by the online network only (0: two views only)
     * @param localCropSize their side in pixels (0: about half the image's, at least 8)
     */
    public record Settings(
            int projectionHidden,
            int projectionDim,
            int predictorHidden,
            float targetMomentum,
            float cropScaleMin,
            float jitterStrength,
            int localCrops,
            int localCropSize) {
        public Settings {
            Contrastive.checkSettings(projectionHidden, projectionDim, cropScaleMin, jitterStrength);
            LocalViews.checkSettings(localCrops, localCropSize, cropScaleMin);
            require(predictorHidden > 0, "predictor_hidden", "must be positive, got " + predictorHidden);
            require(
                    targetMomentum >= 0 && targetMomentum < 1,
                    "target_momentum",
                    "must be in [0, 1), got " + targetMomentum);
        }
    }

    private final float baseMomentum;
    private final long totalSteps;
    private final SequentialBlock target;
    private final LocalViews localViews;
    private MomentumEncoder targetFollower;

    /**
     * @param totalSteps the run's length, over which the target's momentum rises to 1
     * @param localViews multi-crop's small views, whose predictions regress the target's projections of both views
     */
    Byol(
            BackboneSpec spec,
            Augmentation views,
            int projectionHidden,
            int projectionDim,
            int predictorHidden,
            float baseMomentum,
            long totalSteps,
            LocalViews localViews) {
        super("byol", spec, Backbones.build(spec), views);
        this.localViews = localViews;
        this.baseMomentum = baseMomentum;
        this.totalSteps = Math.max(1, totalSteps);
        model.add(encoder)
                .add(ProjectionHead.mlp(projectionHidden, projectionDim, true))
                .add(ProjectionHead.mlp(predictorHidden, projectionDim, true));
        this.target = new SequentialBlock()
                .add(Backbones.build(spec))
                .add(ProjectionHead.mlp(projectionHidden, projectionDim, true));
    }

    /** The target network (encoder and projector). */
    public Block target() {
        return target;
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        Shape in = new Shape(2).addAll(imageShape);
        model.initialize(manager, DataType.FLOAT32, in);
        target.initialize(manager, DataType.FLOAT32, in);
        targetFollower = new MomentumEncoder(model, target);
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        NDArray v1 = view(ctx, 0, images);
        NDArray v2 = view(ctx, 1, images);
        NDArray p = ctx.forward(model, v1, v2);
        // The target's parameters are frozen: no graph is recorded for it.
        NDArray z = ctx.forward(target, v1, v2).stopGradient();
        // Each view's prediction regresses the target's projection of the other view, both ways. Summed over the two
        // directions, 2 (2 - 2 cos) = 4 - 4 cos; with local views, 2 (2 - 2 cos) over the mean of all pairs.
        NDArray cosine = Losses.meanCosine(p, Losses.otherView(z));
        if (localViews.count() > 0) {
            NDArray local = ctx.forward(model, localViews.draw(ctx, images));
            cosine = localViews.meanCosineOfAllPairs(cosine, local, z);
        }
        return Scalars.mul(cosine, -4).add(4);
    }

    @Override
    public void afterStep(StepContext ctx) {
        targetFollower.update(MomentumEncoder.cosineMomentum(baseMomentum, ctx.step(), totalSteps));
    }

    @Override
    public Map<String, NDArray> state() {
        return targetFollower.state("target/");
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>(localViews.count() > 0 ? localViews.derivedValues() : Map.of());
        h.put("target_momentum_schedule", "cosine from target_momentum to 1 over " + totalSteps + " steps");
        return h;
    }
}
