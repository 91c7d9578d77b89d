package dev.selfsup.core.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import dev.selfsup.core.engine.Scalars;
import java.util.ArrayList;
import java.util.List;

/**
 * A Vision Transformer (Dosovitskiy et al. 2021) as BEiT uses it: non-overlapping patches embedded by a strided
 * convolution, a learnable [CLS] token and position embeddings, pre-norm transformer blocks (DJL's own block adds
 * its input where the attention output belongs, so these are written here), and a final layer norm. A learnable
 * mask token replaces the embeddings of masked patches.
 *
 * <p>Forward with one input, images {@code [B, C, S, S]} in [0, 1], gives the representation {@code [B, D]}: the
 * mean of the patch tokens, or the [CLS] token. With a second input, a mask {@code [B, N]} (1: masked), it gives
 * the final patch tokens {@code [B, N, D]} for a per-patch head. Input normalisation is the first step, as in the
 * convolutional backbones.
 */
public final class VisionTransformer extends AbstractBlock {
    private final int dim;
    private final int heads;
    private final int patch;
    private final int grid;
    private final boolean clsRepresentation;
    private final float[] mean;
    private final float[] std;
    private final Conv2d patchEmbed;
    private final Parameter cls;
    private final Parameter position;
    private final Parameter maskToken;
    private final List<EncoderLayer> layers = new ArrayList<>();
    private final LayerNormLast norm;

    public VisionTransformer(BackboneSpec spec) {
        this.dim = spec.width();
        this.heads = spec.vitHeads();
        this.patch = spec.vitPatchSize();
        this.grid = spec.imageSize() / patch;
        this.clsRepresentation = BackboneSpec.VIT_CLS.equals(spec.type());
        this.mean = spec.mean().clone();
        this.std = spec.std().clone();
        this.patchEmbed = addChildBlock(
                "patch_embed",
                Conv2d.builder()
                        .setFilters(dim)
                        .setKernelShape(new Shape(patch, patch))
                        .optStride(new Shape(patch, patch))
                        .build());
        NormalInitializer small = new NormalInitializer(0.02f);
        this.cls = addParameter(Parameter.builder()
                .setName("cls_token")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(1, 1, dim))
                .optInitializer(small)
                .build());
        this.position = addParameter(Parameter.builder()
                .setName("position")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(1, (long) grid * grid + 1, dim))
                .optInitializer(small)
                .build());
        this.maskToken = addParameter(Parameter.builder()
                .setName("mask_token")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(1, 1, dim))
                .optInitializer(small)
                .build());
        for (int i = 0; i < spec.depth(); i++) {
            layers.add(addChildBlock("layer" + i, new EncoderLayer(dim, heads)));
        }
        this.norm = addChildBlock("norm", new LayerNormLast(dim));
    }

    /** Patches per side. */
    public int gridSize() {
        return grid;
    }

    /** Side of a patch in pixels. */
    public int patchSize() {
        return patch;
    }

    public int dim() {
        return dim;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDManager m = x.getManager();
        NDArray mu = m.create(mean, new Shape(1, mean.length, 1, 1)).toDevice(x.getDevice(), false);
        NDArray inv = m.create(std, new Shape(1, std.length, 1, 1)).toDevice(x.getDevice(), false);
        x = x.sub(mu).divi(inv);
        NDArray e = patchEmbed.forward(ps, new NDList(x), training).singletonOrThrow(); // [B, D, G, G]
        long b = e.getShape().get(0);
        NDArray tokens = e.reshape(b, dim, (long) grid * grid).transpose(0, 2, 1); // [B, N, D]
        boolean masked = inputs.size() > 1;
        // Every result must belong to the batch's manager, so each operation starts from a batch array: an
        // operation that starts from a parameter puts its result (and all that follows from it) in the model's
        // long-lived manager, which inference outside an NDScope would never free.
        if (masked) {
            NDArray mask = inputs.get(1).toType(DataType.FLOAT32, false).reshape(b, (long) grid * grid, 1);
            NDArray token = ps.getValue(maskToken, x.getDevice(), training);
            tokens = tokens.mul(mask.neg().add(1f)).add(mask.mul(token));
        }
        NDArray c = m.zeros(new Shape(b, 1, dim), tokens.getDataType(), x.getDevice())
                .add(ps.getValue(cls, x.getDevice(), training));
        NDArray h = NDArrays.concat(new NDList(c, tokens), 1).add(ps.getValue(position, x.getDevice(), training));
        for (EncoderLayer layer : layers) {
            h = layer.forward(ps, new NDList(h), training).singletonOrThrow();
        }
        h = norm.forward(ps, new NDList(h), training).singletonOrThrow();
        NDArray patches = h.get(":, 1:, :");
        if (masked) {
            return new NDList(patches);
        }
        return new NDList(clsRepresentation ? h.get(":, 0, :") : patches.mean(new int[] {1}));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        long b = inputShapes[0].get(0);
        return inputShapes.length > 1
                ? new Shape[] {new Shape(b, (long) grid * grid, dim)}
                : new Shape[] {new Shape(b, dim)};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape img = inputShapes[0];
        patchEmbed.initialize(manager, dataType, img);
        Shape seq = new Shape(img.get(0), (long) grid * grid + 1, dim);
        for (EncoderLayer l : layers) {
            l.initialize(manager, dataType, seq);
        }
        norm.initialize(manager, dataType, seq);
    }

    /** One pre-norm transformer layer: {@code h = x + MSA(LN(x)); out = h + MLP(LN(h))}, MLP 4x wide with GELU. */
    static final class EncoderLayer extends AbstractBlock {
        private final int dim;
        private final int heads;
        private final LayerNormLast norm1;
        private final Linear qkv;
        private final Linear proj;
        private final LayerNormLast norm2;
        private final Linear fc1;
        private final Linear fc2;

        EncoderLayer(int dim, int heads) {
            if (dim % heads != 0) {
                throw new IllegalArgumentException("width " + dim + " is not divisible into " + heads + " heads");
            }
            this.dim = dim;
            this.heads = heads;
            this.norm1 = addChildBlock("norm1", new LayerNormLast(dim));
            this.qkv = addChildBlock("qkv", Linear.builder().setUnits(3L * dim).build());
            this.proj = addChildBlock("proj", Linear.builder().setUnits(dim).build());
            this.norm2 = addChildBlock("norm2", new LayerNormLast(dim));
            this.fc1 = addChildBlock("fc1", Linear.builder().setUnits(4L * dim).build());
            this.fc2 = addChildBlock("fc2", Linear.builder().setUnits(dim).build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
            NDArray x = inputs.singletonOrThrow();
            long b = x.getShape().get(0);
            long n = x.getShape().get(1);
            long dh = dim / heads;
            NDArray y = norm1.forward(ps, new NDList(x), training).singletonOrThrow();
            NDArray qkvOut = qkv.forward(ps, new NDList(y), training)
                    .singletonOrThrow()
                    .reshape(b, n, 3, heads, dh)
                    .transpose(2, 0, 3, 1, 4); // [3, B, H, N, dh]
            NDArray q = Scalars.mul(qkvOut.get(0), (float) (1.0 / Math.sqrt(dh)));
            NDArray k = qkvOut.get(1);
            NDArray v = qkvOut.get(2);
            NDArray attention = q.matMul(k.transpose(0, 1, 3, 2)).softmax(-1); // [B, H, N, N]
            NDArray mixed = attention.matMul(v).transpose(0, 2, 1, 3).reshape(b, n, dim);
            NDArray h = x.add(proj.forward(ps, new NDList(mixed), training).singletonOrThrow());
            NDArray z = norm2.forward(ps, new NDList(h), training).singletonOrThrow();
            z = Activation.gelu(fc1.forward(ps, new NDList(z), training).singletonOrThrow());
            return new NDList(h.add(fc2.forward(ps, new NDList(z), training).singletonOrThrow()));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0]};
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            Shape s = inputShapes[0];
            norm1.initialize(manager, dataType, s);
            qkv.initialize(manager, dataType, s);
            proj.initialize(manager, dataType, s);
            norm2.initialize(manager, dataType, s);
            fc1.initialize(manager, dataType, s);
            fc2.initialize(manager, dataType, new Shape(s.get(0), s.get(1), 4L * dim));
        }
    }

    /** Layer normalisation over the last axis with a learned scale and shift. */
    static final class LayerNormLast extends AbstractBlock {
        private final Parameter gamma;
        private final Parameter beta;

        LayerNormLast(int dim) {
            this.gamma = addParameter(Parameter.builder()
                    .setName("gamma")
                    .setType(Parameter.Type.GAMMA)
                    .optShape(new Shape(dim))
                    .build());
            this.beta = addParameter(Parameter.builder()
                    .setName("beta")
                    .setType(Parameter.Type.BETA)
                    .optShape(new Shape(dim))
                    .build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
            NDArray x = inputs.singletonOrThrow();
            int last = x.getShape().dimension() - 1;
            NDArray mu = x.mean(new int[] {last}, true);
            NDArray centred = x.sub(mu);
            NDArray var = centred.square().mean(new int[] {last}, true);
            NDArray y = centred.div(var.add(1e-6f).sqrt());
            return new NDList(
                    y.mul(ps.getValue(gamma, x.getDevice(), training)).add(ps.getValue(beta, x.getDevice(), training)));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0]};
        }
    }
}
