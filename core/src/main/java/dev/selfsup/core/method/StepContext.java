package dev.selfsup.core.method;

import ai.djl.training.ParameterStore;
import java.util.Random;

/**
 * What a method needs for one training step.
 *
 * @param parameters where blocks find their parameters
 * @param rng this step's random numbers: a pure function of (seed, step), so a resumed run repeats them
 * @param step the global step number, from 0
 * @param indices the dataset index of each image of the batch, in batch order
 */
public record StepContext(ParameterStore parameters, Random rng, long step, int[] indices) {}
