package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import ai.djl.ndarray.NDArray;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.nn.Losses;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Multi-crop's small views (Caron et al. 2020, SwAV; then DINO): besides the two global views, {@code count} crops of
 * 5% to {@code scaleMax} of the image's area resized to a small side, seen only by the network that learns. They
 * cost about (side / image side)^2 of a global view each, and teach the encoder to relate a part of an object to the
 * whole. Drawn on the device from the step's images (from its first view when the views were cropped on the host).
 */
final class LocalViews {
    /** Local crops start at this share of the image's area, as in the papers. */
    static final float SCALE_MIN = 0.05f;

    private final int count;
    private final int side;
    private final AugmentationPipeline pipeline;

    /**
     * @param count local views per image (0: none)
     * @param requestedSide their side in pixels (0: about half the image's, at least 8)
     * @param scaleMax the largest area share of a local crop (the smallest of a global one)
     */
    LocalViews(BackboneSpec spec, int count, int requestedSide, float scaleMax, float jitterStrength) {
        this.count = count;
        this.side = requestedSide > 0 ? requestedSide : Math.max(8, Math.round(spec.imageSize() * 0.5f));
        this.pipeline = AugmentationPipeline.contrastive(spec.channels(), side, SCALE_MIN, scaleMax, jitterStrength);
    }

    /** The checks of the {@code local_crops} and {@code local_crop_size} settings on their own. */
    static void checkSettings(int count, int requestedSide, float cropScaleMin) {
        require(count >= 0 && count <= 16, "local_crops", "must be 0 to 16, got " + count);
        require(
                requestedSide == 0 || requestedSide >= 8,
                "local_crop_size",
                "must be 0 (about half the image) or at least 8 px, got " + requestedSide);
        require(
                count == 0 || cropScaleMin > SCALE_MIN,
                "crop_scale_min",
                "must be above " + SCALE_MIN + " with local crops (they span " + SCALE_MIN + " to it)");
    }

    /** The checks against the backbone: a ViT's position embeddings are made for one grid. */
    static void checkBackbone(int count, int requestedSide, BackboneSpec spec) {
        require(
                !spec.isVit() || count == 0,
                "local_crops",
                "a ViT takes views of its own image size only; set local_crops to 0 for " + spec.type());
        require(
                requestedSide <= spec.imageSize(),
                "local_crop_size",
                "must be at most the image size " + spec.imageSize() + ", got " + requestedSide);
    }

    /** Local views per image. */
    int count() {
        return count;
    }

    /** This step's local views of {@code images}, one array of N views per crop, from the step's random numbers. */
    NDArray[] draw(StepContext ctx, NDArray images) {
        NDArray[] locals = new NDArray[count];
        for (int i = 0; i < count; i++) {
            locals[i] = pipeline.apply(images, ctx.rng());
        }
        return locals;
    }

    /**
     * The mean cosine over every pair of a prediction and a target of another view: the two global pairs (view 1
     * predicts view 2 and back), whose mean is {@code globalMeanCosine}, and each local view's prediction against
     * the targets of both global views. Every pair weighs the same, as in DINO's loss.
     *
     * @param localPredictions {@code [count * N, D]}, local view by local view
     * @param globalTargets {@code [2N, D]}: the targets of global view 1, then of view 2
     */
    NDArray meanCosineOfAllPairs(NDArray globalMeanCosine, NDArray localPredictions, NDArray globalTargets) {
        long n = globalTargets.getShape().get(0) / 2;
        long d = globalTargets.getShape().get(1);
        // cos(p, t1) + cos(p, t2) = p' . (t1' + t2') with every row L2-normalised.
        NDArray bothTargets =
                Losses.l2Normalize(globalTargets.get("0:" + n)).add(Losses.l2Normalize(globalTargets.get(n + ":")));
        NDArray perLocal = Losses.l2Normalize(localPredictions)
                .reshape(count, n, d)
                .mul(bothTargets.expandDims(0))
                .sum(new int[] {2}); // [count, N]: cos to view 1 plus cos to view 2
        // Pairs: 2 global, 2 per local view. Sum of the pairs' mean cosines: 2 g + count * mean(perLocal).
        NDArray sum = Scalars.mul(globalMeanCosine, 2).add(Scalars.mul(perLocal.mean(), count));
        return Scalars.divi(sum, 2f + 2f * count);
    }

    /** What the run derived from the settings, for its provenance. */
    Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("local_crop_side", side);
        h.put("local_crop_scale", SCALE_MIN + " to crop_scale_min");
        return h;
    }
}
