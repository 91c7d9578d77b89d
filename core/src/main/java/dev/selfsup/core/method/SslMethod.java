package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.core.data.EpochSampler;
import dev.selfsup.core.data.HostViews;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.model.BackboneSpec;
import java.util.Map;

/**
 * A self-supervised method: what it builds on top of the backbone, its loss for a batch of unlabeled images,
 * and what it updates after each optimizer step.
 *
 * <p>The trainer owns the loop, the optimizer and checkpoints; a method owns its views, heads and loss. The
 * parameters the optimizer updates are those of {@link #trainable()}; anything else a method keeps between
 * steps (a momentum encoder, a queue) it returns from {@link #state()} so checkpoints carry it.
 */
public interface SslMethod {
    /** The method's name as the API and the provenance spell it, e.g. "simclr". */
    String name();

    /** The encoder being pretrained: the block that is evaluated and exported. */
    Block encoder();

    /** The architecture of {@link #encoder()}. */
    BackboneSpec backboneSpec();

    /** One block holding every parameter the optimizer updates (the encoder and the method's heads). */
    Block trainable();

    /** Builds and initialises all parameters for images of shape {@code [C, H, W]}. */
    void initialize(NDManager manager, Shape imageShape);

    /**
     * The loss of one batch, computed in training mode; the trainer calls it inside a gradient collector.
     *
     * @param images float32 {@code [B, C, H, W]} in [0, 1], on the training device
     */
    NDArray loss(StepContext ctx, NDArray images);

    /**
     * Called once before {@link #initialize} and before a checkpoint is restored, with the training images (e.g.
     * to measure their colour prior, or to size per-image state).
     *
     * @throws UnsuitableDataException if the method cannot learn from these images
     */
    default void prepare(ImageDataset data, NDManager manager) {}

    /** Called before the first step of every epoch, and when a run resumes inside an epoch. */
    default void beforeEpoch(EpochContext ctx) {}

    /** The order in which the loader serves each epoch's images, or null for the run's seeded shuffle. */
    default EpochSampler sampler() {
        return null;
    }

    /**
     * Views to crop from each source image on the host when the images are read from disk (decoded from the file for
     * each view, cropped at its own resolution, then resized), handed to {@link #loss} in {@link StepContext#views};
     * null (the default) to take whole images and crop on the device.
     */
    default HostViews hostViews() {
        return null;
    }

    /** Numbers the method reports with each progress report, e.g. DeepCluster's NMI; empty by default. */
    default Map<String, Double> progressMetrics() {
        return Map.of();
    }

    /**
     * True when the encoder trains on inputs unlike whole images (the patches of context prediction and jigsaw):
     * its batch-norm statistics then describe patches, and the trainer re-estimates them on whole images when
     * the run finishes, so the exported encoder is right for the images it will embed.
     */
    default boolean recalibrateBatchNorm() {
        return false;
    }

    /** Called after the optimizer step, e.g. for a momentum update. Arrays it makes belong to the step. */
    default void afterStep(StepContext ctx) {}

    /** Arrays outside {@link #trainable()} that a checkpoint must keep, by name. Empty by default. */
    default Map<String, NDArray> state() {
        return Map.of();
    }

    /** Called after a checkpoint wrote saved values into the arrays of {@link #state()}. */
    default void stateRestored() {}

    /** Frees what the method holds besides arrays (threads, connections); called when the trainer closes. */
    default void release() {}

    /**
     * Values the method derived or fixed beyond its settings record (a head's width, a constant of its loss, the
     * tokenizer it reads), for provenance. The settings themselves are recorded from the record, so a value here
     * never needs to repeat one; empty by default.
     */
    default Map<String, Object> derivedValues() {
        return Map.of();
    }
}
