package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * What a method needs for one training step.
 *
 * @param parameters where blocks find their parameters
 * @param rng this step's random numbers: a pure function of (seed, step), so a resumed run repeats them
 * @param step the global step number, from 0
 * @param indices the dataset index of each image of the batch, in batch order
 * @param views the batch's views cropped from the source images on the host, when the method asked for them
 *     ({@link SslMethod#hostViews}) and the images are read from disk; else empty, and the method crops on the device
 * @param batchForward how blocks run over the batch: one device, or data-parallel replicas
 */
public record StepContext(
        ParameterStore parameters,
        Random rng,
        long step,
        int[] indices,
        List<NDArray> views,
        BatchForward batchForward) {
    /** A step on one device with host views. */
    public StepContext(ParameterStore parameters, Random rng, long step, int[] indices, List<NDArray> views) {
        this(parameters, rng, step, indices, views, BatchForward.ONE_DEVICE);
    }

    /** A step on one device without host views. */
    public StepContext(ParameterStore parameters, Random rng, long step, int[] indices) {
        this(parameters, rng, step, indices, List.of(), BatchForward.ONE_DEVICE);
    }

    /**
     * The block's training-mode output for the parts (each {@code [B, ...]}, aligned by image) concatenated along
     * axis 0, on the batch's device; split over the replicas when there are several (see {@link BatchForward}).
     */
    public NDArray forward(Block block, NDArray... parts) {
        return batchForward.forward(block, parameters, parts);
    }

    /** {@link #forward} of one part with the rows dealt to replicas in this step's shuffled order (shuffle-BN). */
    public NDArray forwardShuffled(Block block, NDArray x) {
        return batchForward.forwardShuffled(block, parameters, step, x);
    }

    /** The random numbers of step {@code step} of a run seeded with {@code seed}: the same on every resume. */
    public static Random random(long seed, long step) {
        return new Random(new SplittableRandom(seed ^ (step * 0x9E3779B97F4A7C15L)).nextLong());
    }
}
