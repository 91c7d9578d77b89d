package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.Losses;
import dev.selfsup.core.nn.ProjectionHead;
import java.util.Map;

/**
 * SimCLR (Chen et al. 2020): two augmented views of every image, encoder f and MLP projection head g, NT-Xent
 * loss over the 2N projections. Both views go through the network as one batch of 2N, so batch norm sees them
 * together, as in the reference implementation.
 */
public final class SimClr extends TwoViewMethod {
    /** SimCLR, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "simclr",
                    "contrastive: two views per image, NT-Xent over the batch (Chen et al. 2020)",
                    new Settings(512, 128, 0.2f, 0.2f, 0.5f),
                    (s, c) -> new SimClr(
                            c.spec(),
                            Contrastive.views(c.spec(), s.cropScaleMin(), s.jitterStrength()),
                            s.projectionHidden(),
                            s.projectionDim(),
                            s.temperature()))
            // SimCLR normalises over the whole batch of all devices (its TPU code's global batch norm).
            .withTrainingDefaults(Map.of("batch_norm", "sync"))
            .withDataParallel();

    /**
     * SimCLR's settings. Temperature 0.2 beat 0.5 on Fashion-MNIST in short runs (docs/benchmarks.md).
     *
     * @param projectionHidden hidden units of the projection head
     * @param projectionDim output size of the projection head
     * @param temperature the NT-Xent temperature
     * @param cropScaleMin smallest area fraction of the random resized crop
     * @param jitterStrength colour-jitter strength s
     */
    public record Settings(
            int projectionHidden, int projectionDim, float temperature, float cropScaleMin, float jitterStrength) {
        public Settings {
            Contrastive.checkSettings(projectionHidden, projectionDim, cropScaleMin, jitterStrength);
            Contrastive.checkTemperature(temperature);
        }
    }

    private final int projectionHidden;
    private final int projectionDim;
    private final float temperature;
    private final Block head;

    public SimClr(BackboneSpec spec, Augmentation views, int projectionHidden, int projectionDim, float temperature) {
        super("simclr", spec, Backbones.build(spec), views);
        if (temperature <= 0) {
            throw new IllegalArgumentException("temperature must be positive, got " + temperature);
        }
        this.projectionHidden = projectionHidden;
        this.projectionDim = projectionDim;
        this.temperature = temperature;
        this.head = ProjectionHead.mlp(projectionHidden, projectionDim, true);
        model.add(encoder).add(head);
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        // The loss sees every replica's projections as negatives.
        NDArray[] z = outputsOfBothViews(ctx, images);
        return Losses.ntXent(z[0], z[1], temperature);
    }
}
