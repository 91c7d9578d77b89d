package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
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

    /** Called after the optimizer step, e.g. for a momentum update. Arrays it makes belong to the step. */
    default void afterStep(StepContext ctx) {}

    /** Arrays outside {@link #trainable()} that a checkpoint must keep, by name. Empty by default. */
    default Map<String, NDArray> state() {
        return Map.of();
    }

    /** Called after a checkpoint wrote saved values into the arrays of {@link #state()}. */
    default void stateRestored() {}

    /** The method's hyperparameters, for provenance. */
    Map<String, Object> hyperparameters();
}
