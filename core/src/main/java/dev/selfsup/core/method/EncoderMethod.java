package dev.selfsup.core.method;

import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import dev.selfsup.core.model.BackboneSpec;

/**
 * What every method has: its name, the encoder it pretrains with that encoder's spec, and one block holding all
 * that the optimizer trains and checkpoints keep (the encoder first, then the method's heads).
 */
public abstract class EncoderMethod implements SslMethod {
    private final String name;
    /** The architecture of {@link #encoder}. */
    protected final BackboneSpec spec;
    /** The encoder being pretrained: what is evaluated and exported. */
    protected final Block encoder;
    /** Everything trained: subclasses add the encoder (or its trunk) and their heads. */
    protected final SequentialBlock model = new SequentialBlock();

    protected EncoderMethod(String name, BackboneSpec spec, Block encoder) {
        this.name = name;
        this.spec = spec;
        this.encoder = encoder;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final Block encoder() {
        return encoder;
    }

    @Override
    public final BackboneSpec backboneSpec() {
        return spec;
    }

    @Override
    public final Block trainable() {
        return model;
    }
}
