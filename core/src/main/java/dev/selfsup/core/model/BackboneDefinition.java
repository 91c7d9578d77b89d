package dev.selfsup.core.model;

import ai.djl.nn.Block;
import java.util.function.Function;

/**
 * One backbone as the registry ({@link Backbones#ALL}) knows it: its name, its size when a run asks for none, the
 * size of its representation, and how to build it. A new backbone is one definition in that list, and one value
 * in the API's {@code Backbone} enum.
 *
 * @param name the name specs, checkpoints, bundles and the API use, e.g. "small-convnet"
 * @param description one line for people
 * @param defaultWidth the width when none is asked for (channels of the first stage; the ViT's embedding size)
 * @param defaultDepth the depth when none is asked for (conv layers per stage, or the ViT's blocks)
 * @param featuresPerWidth the representation h has this many values per unit of width
 * @param vit whether it is a Vision Transformer, which cuts the image into patches (BEiT needs one; colorization
 *     and DINO's local crops do not fit one)
 * @param builder builds the encoder, mapping [0, 1] pixels {@code [B, C, H, W]} to h {@code [B, featureDim]}
 */
public record BackboneDefinition(
        String name,
        String description,
        int defaultWidth,
        int defaultDepth,
        int featuresPerWidth,
        boolean vit,
        Function<BackboneSpec, Block> builder) {}
