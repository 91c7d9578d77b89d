package dev.selfsup.core.method;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.data.ImageDataset;
import java.util.function.Consumer;

/**
 * What a method may use at the start of an epoch.
 *
 * @param epoch the epoch about to start, from 0
 * @param resumed true when a run resumes inside this epoch rather than starting it
 * @param parameters where blocks find their parameters
 * @param data the training images
 * @param manager the run's long-lived manager, on the training device
 * @param seed the run's seed
 * @param resetOptimizerState zeroes the optimizer's state (moments) of a block's parameters, for a head the
 *     method has just re-initialised
 * @param bfloat16 whether the run computes its forward passes in bfloat16, as a pass over the data should too
 */
public record EpochContext(
        long epoch,
        boolean resumed,
        ParameterStore parameters,
        ImageDataset data,
        NDManager manager,
        long seed,
        Consumer<Block> resetOptimizerState,
        boolean bfloat16) {}
