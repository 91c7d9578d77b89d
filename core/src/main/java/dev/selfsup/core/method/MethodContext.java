package dev.selfsup.core.method;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.model.BackboneSpec;

/**
 * What a method is built from besides its own settings.
 *
 * @param spec the encoder to pretrain, built for {@code data}'s images
 * @param data the training images (colorization measures its lightness statistics from them)
 * @param resources what some methods need from outside the process (BEiT: its tokenizer)
 * @param seed the run's seed
 * @param batchSize images per step
 * @param totalSteps the run's length in optimizer steps (BYOL's target momentum follows a schedule over it)
 */
public record MethodContext(
        BackboneSpec spec, ImageDataset data, MethodResources resources, long seed, int batchSize, long totalSteps) {}
