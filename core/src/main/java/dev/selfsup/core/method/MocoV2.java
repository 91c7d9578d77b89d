package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.config.Records;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.Losses;
import dev.selfsup.core.nn.ProjectionHead;
import java.util.Map;

/**
 * MoCo v2 (He et al. 2020; Chen et al. 2020): a query encoder trained by gradient, a key encoder that follows it
 * as an exponential moving average and gets no gradient, and a FIFO queue of K L2-normalised keys from earlier
 * batches that serve as negatives. Loss: InfoNCE with the positive key at index 0. Both encoders carry the same
 * MLP head (MoCo v2's).
 *
 * <p>On one device the key encoder sees the whole batch in one batch norm. Over several replicas with per-replica
 * batch norm, the keys are computed on a shuffled split of the batch and put back in order (the paper's
 * shuffle-BN). The queue and the key encoder are part of {@link #state()}.
 */
public final class MocoV2 extends TwoViewMethod {
    /** MoCo v2, registered in {@link Methods}; "moco" is its older name. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "moco-v2",
                    "contrastive: a momentum key encoder and a queue of negatives (He et al. 2020, Chen et al. 2020)",
                    new Settings(512, 128, 4096, 0.99f, 0.2f, 0.2f, 0.5f),
                    (s, c) -> new MocoV2(
                            c.spec(),
                            Contrastive.views(c.spec(), s.cropScaleMin(), s.jitterStrength()),
                            s.projectionHidden(),
                            s.projectionDim(),
                            s.queueSize(),
                            s.keyMomentum(),
                            s.temperature()))
            .withAliases("moco")
            // MoCo steps are cheaper (the key encoder has no backward pass): 8 epochs take the time of SimCLR's 6.
            .withTrainingDefaults(Map.of("epochs", 8))
            .withDataParallel();

    /**
     * MoCo v2's settings. The key momentum is 0.99 rather than the paper's 0.999 because short runs need the key
     * encoder to follow faster.
     *
     * @param projectionHidden hidden units of the projection head
     * @param projectionDim output size of the projection head
     * @param queueSize the number of negative keys
     * @param keyMomentum the EMA coefficient of the key encoder
     * @param temperature the InfoNCE temperature
     * @param cropScaleMin smallest area fraction of the random resized crop
     * @param jitterStrength colour-jitter strength s
     */
    public record Settings(
            int projectionHidden,
            int projectionDim,
            int queueSize,
            float keyMomentum,
            float temperature,
            float cropScaleMin,
            float jitterStrength) {
        public Settings {
            Contrastive.checkSettings(projectionHidden, projectionDim, cropScaleMin, jitterStrength);
            Contrastive.checkTemperature(temperature);
            Records.require(queueSize > 0, "queue_size", "must be positive, got " + queueSize);
            Records.require(
                    keyMomentum >= 0 && keyMomentum < 1, "key_momentum", "must be in [0, 1), got " + keyMomentum);
        }
    }

    private final int projectionHidden;
    private final int projectionDim;
    private final int queueSize;
    private final float momentum;
    private final float temperature;
    private final SequentialBlock query;
    private final SequentialBlock key;
    private NDArray queue; // [K, D], rows L2-normalised
    private NDArray queuePointer; // int64 scalar, kept as an array so a checkpoint holds it
    private long pointer;
    private NDArray pendingKeys;
    private MomentumEncoder keyFollower;

    public MocoV2(
            BackboneSpec spec,
            Augmentation views,
            int projectionHidden,
            int projectionDim,
            int queueSize,
            float momentum,
            float temperature) {
        super("moco-v2", spec, Backbones.build(spec), views);
        if (queueSize <= 0) {
            throw new IllegalArgumentException("queue size must be positive, got " + queueSize);
        }
        if (momentum < 0 || momentum >= 1) {
            throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
        }
        if (temperature <= 0) {
            throw new IllegalArgumentException("temperature must be positive, got " + temperature);
        }
        this.projectionHidden = projectionHidden;
        this.projectionDim = projectionDim;
        this.queueSize = queueSize;
        this.momentum = momentum;
        this.temperature = temperature;
        this.query = model.add(encoder).add(ProjectionHead.mlp(projectionHidden, projectionDim, false));
        this.key = new SequentialBlock()
                .add(Backbones.build(spec))
                .add(ProjectionHead.mlp(projectionHidden, projectionDim, false));
    }

    /** The momentum (key) encoder with its head. */
    public Block keyEncoder() {
        return key;
    }

    /** The queue of negative keys, {@code [K, D]}. */
    public NDArray queue() {
        return queue;
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        Shape in = new Shape(2).addAll(imageShape);
        query.initialize(manager, DataType.FLOAT32, in);
        key.initialize(manager, DataType.FLOAT32, in);
        keyFollower = new MomentumEncoder(query, key); // the key encoder starts as a copy of the query encoder
        // A random unit-norm queue, as in the reference implementation.
        queue = Losses.l2Normalize(manager.randomNormal(new Shape(queueSize, projectionDim)));
        queuePointer = manager.create(new long[] {0L});
        pointer = 0;
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        NDArray xq = view(ctx, 0, images);
        NDArray xk = view(ctx, 1, images);
        NDArray q = Losses.l2Normalize(ctx.forward(query, xq));
        // The key encoder's parameters are frozen and its input needs no gradient: no graph is recorded. Over
        // several replicas its batch is dealt out shuffled (shuffle-BN), so batch norm cannot leak which key is
        // the positive one.
        NDArray k = Losses.l2Normalize(ctx.forwardShuffled(key, xk)).stopGradient();
        pendingKeys = k;
        return Losses.infoNce(q, k, queue, temperature);
    }

    @Override
    public void afterStep(StepContext ctx) {
        momentumUpdate();
        if (pendingKeys != null) {
            enqueue(pendingKeys);
            pendingKeys = null;
        }
    }

    /**
     * key = m * key + (1 - m) * query for every learned parameter. Batch-norm running statistics are not
     * averaged: the key encoder's own forward passes keep them, as in the reference implementation.
     */
    public void momentumUpdate() {
        keyFollower.update(momentum);
    }

    /** Writes keys {@code [N, D]} into the ring buffer at the pointer (wrapping around) and advances it. */
    public void enqueue(NDArray keys) {
        int n = (int) keys.getShape().get(0);
        int written = 0;
        while (written < n) {
            int room = (int) Math.min(n - written, queueSize - pointer);
            NDArray part = written == 0 && room == n ? keys : keys.get(written + ":" + (written + room));
            queue.set(new NDIndex(pointer + ":" + (pointer + room)), part);
            written += room;
            pointer = (pointer + room) % queueSize;
        }
        queuePointer.set(new NDIndex(0), pointer);
    }

    @Override
    public Map<String, NDArray> state() {
        Map<String, NDArray> s = keyFollower.state("key/");
        s.put("queue", queue);
        s.put("queue_pointer", queuePointer);
        return s;
    }

    @Override
    public void stateRestored() {
        pointer = queuePointer.getLong(0);
    }
}
