package dev.selfsup.core.tokenizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.engine.Scalars;

/**
 * A VQ autoencoder over patches: a convolutional encoder maps each {@code p x p} patch (with a 3x3 view of its
 * surroundings) to a D-dimensional vector, the {@link VectorQuantizer} replaces it by its nearest code, and a
 * decoder paints the image back from the grid of codes. The token of patch (i, j) is the index of its code.
 *
 * <p>Trained with the straight-through estimator: the reconstruction loss reaches the encoder as if quantization
 * were the identity, the commitment loss {@code β ||z - sg(q)||²} keeps the encoder near its codes, and the codes
 * follow the encoder by EMA ({@link VectorQuantizer#update}).
 */
public final class VqTokenizer implements VisualTokenizer {
    private final TokenizerSpec spec;
    private final SequentialBlock encoder;
    private final SequentialBlock decoder;
    private final SequentialBlock both;
    private final VectorQuantizer quantizer;
    private final NDManager manager;

    /** Builds a fresh tokenizer with its parameters in {@code manager}. */
    public VqTokenizer(TokenizerSpec spec, NDManager manager, float emaDecay, float deadThreshold) {
        if (!TokenizerSpec.VQ.equals(spec.kind())) {
            throw new IllegalArgumentException("not a VQ tokenizer spec: " + spec.kind());
        }
        this.spec = spec;
        this.manager = manager;
        int h = spec.hidden();
        int p = spec.patchSize();
        int c = spec.channels();
        this.encoder = new SequentialBlock()
                .add(new LambdaBlock(
                        l -> new NDList(Scalars.mul(l.singletonOrThrow(), 2f).subi(1f)), "centre"))
                .add(conv(h / 2, 3, 1, 1))
                .add(Activation.reluBlock())
                .add(conv(h, p, p, 0))
                .add(Activation.reluBlock())
                .add(conv(h, 3, 1, 1))
                .add(Activation.reluBlock())
                .add(conv(spec.codeDim(), 1, 1, 0));
        this.decoder = new SequentialBlock()
                .add(conv(h, 1, 1, 0))
                .add(Activation.reluBlock())
                .add(conv(h, 3, 1, 1))
                .add(Activation.reluBlock())
                .add(conv(h, 3, 1, 1))
                .add(Activation.reluBlock())
                .add(conv(c * p * p, 1, 1, 0))
                .add(new LambdaBlock(
                        l -> {
                            NDArray x = l.singletonOrThrow(); // [B, C p p, G, G] -> [B, C, G p, G p]
                            long b = x.getShape().get(0);
                            int g = (int) x.getShape().get(2);
                            return new NDList(Activation.sigmoid(x.reshape(b, c, p, p, g, g)
                                    .transpose(0, 1, 4, 2, 5, 3)
                                    .reshape(b, c, (long) g * p, (long) g * p)));
                        },
                        "pixels"));
        this.both = new SequentialBlock().add(encoder).add(decoder);
        int s = spec.imageSize();
        encoder.initialize(manager, DataType.FLOAT32, new Shape(1, c, s, s));
        decoder.initialize(manager, DataType.FLOAT32, new Shape(1, spec.codeDim(), spec.gridSize(), spec.gridSize()));
        this.quantizer = new VectorQuantizer(manager, spec.vocabularySize(), spec.codeDim(), emaDecay, deadThreshold);
    }

    private static Block conv(int filters, int kernel, int stride, int pad) {
        return Conv2d.builder()
                .setFilters(filters)
                .setKernelShape(new Shape(kernel, kernel))
                .optStride(new Shape(stride, stride))
                .optPadding(new Shape(pad, pad))
                .build();
    }

    @Override
    public TokenizerSpec spec() {
        return spec;
    }

    /** The encoder and decoder as one block: the parameters the optimizer trains. */
    public Block trainable() {
        return both;
    }

    public SequentialBlock encoder() {
        return encoder;
    }

    public SequentialBlock decoder() {
        return decoder;
    }

    public VectorQuantizer quantizer() {
        return quantizer;
    }

    /** The encoder's vectors, one row per patch: {@code [B * G * G, D]} in row-major grid order. */
    public NDArray encode(ParameterStore ps, NDArray images, boolean training) {
        NDArray z = encoder.forward(ps, new NDList(images), training).singletonOrThrow(); // [B, D, G, G]
        return z.transpose(0, 2, 3, 1).reshape(-1, spec.codeDim());
    }

    /** Images from code vectors {@code [B * G * G, D]}. */
    public NDArray decodeVectors(ParameterStore ps, NDArray vectors, long batch, boolean training) {
        int g = spec.gridSize();
        NDArray grid = vectors.reshape(batch, g, g, spec.codeDim()).transpose(0, 3, 1, 2);
        return decoder.forward(ps, new NDList(grid), training).singletonOrThrow();
    }

    @Override
    public NDArray tokenize(NDArray images) {
        ParameterStore ps = new ParameterStore(images.getManager(), false);
        long b = images.getShape().get(0);
        int g = spec.gridSize();
        return quantizer.nearest(encode(ps, images, false)).reshape(b, g, g);
    }

    @Override
    public NDArray decode(NDArray tokens) {
        ParameterStore ps = new ParameterStore(tokens.getManager(), false);
        long b = tokens.getShape().get(0);
        return decodeVectors(ps, quantizer.lookup(tokens.reshape(-1)), b, false);
    }

    public NDManager manager() {
        return manager;
    }

    @Override
    public ai.djl.Device device() {
        return manager.getDevice();
    }
}
