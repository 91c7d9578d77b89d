package dev.selfsup.core.parallel;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.method.BatchForward;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Data-parallel training across worker processes (ranks), one device each, kept in step by a {@link Collective}.
 *
 * <p>Every rank builds the whole batch (its order and augmentations are a pure function of seed and step, so no
 * image is sent), runs its share of the rows through the networks, and all-gathers the outputs: each rank then holds
 * the whole batch's output, its own rows live (with their autograd history) and the others' as constants, and
 * computes the method's loss over the whole batch as one process would. Its backward pass therefore yields the
 * exact gradient of the whole loss through its own rows; the sum over ranks ({@link #reduceGradients}, one
 * all-reduce) is the gradient of one process over the whole batch, and every rank applies the same update. A
 * parameter used only after the gather (a head applied to the gathered output) gets the whole gradient on every
 * rank, so its sum is divided by the number of ranks.
 *
 * <p>Batch norm is per rank (each normalises its share of the batch, as {@link DataParallel} does per device); rank
 * 0's running statistics are broadcast after each step, so every rank holds the same model. With one process of N
 * per-device replicas and N processes of one, a step is the same up to float summation order.
 */
public final class ProcessParallel implements BatchForward, AutoCloseable {
    private final Collective group;
    private final RecordingStore store;
    // Parameters in the order of their first use (the same on every rank: the same code runs), and whether they
    // were used inside a split forward pass (their gradient is partial) or only outside one (whole on every rank).
    private final List<Parameter> order = new ArrayList<>();
    private final Map<Parameter, Integer> uses = new IdentityHashMap<>();
    private final ByteBuffer[] gradientBuffer = {ByteBuffer.allocateDirect(0)};
    private final ByteBuffer[] statsBuffer = {ByteBuffer.allocateDirect(0)};
    private boolean splitting;
    private boolean stopRequested;

    // Bits of uses: a training-mode use inside a split forward pass, and one outside.
    private static final int INSIDE = 1;
    private static final int OUTSIDE = 2;

    /**
     * @param group the ranks of this run
     * @param manager where the parameters live
     */
    public ProcessParallel(Collective group, NDManager manager) {
        this.group = group;
        this.store = new RecordingStore(manager);
    }

    /** The parameter store blocks must be run with: it notes which parameters a step uses and where. */
    public ParameterStore parameters() {
        return store;
    }

    /** The ranks of this run. */
    public Collective group() {
        return group;
    }

    @Override
    public int replicas() {
        return group.size();
    }

    @Override
    public NDArray forward(Block block, ParameterStore parameters, NDArray... parts) {
        int n = group.size();
        int rank = group.rank();
        long b = parts[0].getShape().get(0);
        if (b % n != 0) {
            throw new IllegalArgumentException("a batch of " + b + " does not split evenly over " + n + " workers");
        }
        long per = b / n;
        NDList pieces = new NDList(parts.length);
        for (NDArray part : parts) {
            pieces.add(part.get(rank * per + ":" + (rank + 1) * per));
        }
        NDArray shard = pieces.size() == 1 ? pieces.get(0) : NDArrays.concat(pieces, 0);
        NDArray out;
        boolean outer = splitting;
        splitting = true;
        try {
            out = block.forward(parameters, new NDList(shard), true).singletonOrThrow();
        } finally {
            splitting = outer;
        }
        if (out.getDataType() != DataType.FLOAT32) {
            throw new IllegalStateException("worker processes gather float32 outputs, got " + out.getDataType());
        }
        NDArray[] ranks = gather(out, parts[0].getManager());
        // Back in batch order: part by part, rank by rank (as DataParallel orders its replicas).
        NDList ordered = new NDList(parts.length * n);
        for (int p = 0; p < parts.length; p++) {
            for (int q = 0; q < n; q++) {
                ordered.add(ranks[q].get(p * per + ":" + (p + 1) * per));
            }
        }
        return ordered.size() == 1 ? ordered.get(0) : NDArrays.concat(ordered, 0);
    }

    /** Every rank's output: this rank's own array (live) and the others' rows as constants. */
    private NDArray[] gather(NDArray out, NDManager m) {
        int n = group.size();
        Shape shape = out.getShape();
        NDArray host = out.stopGradient().toDevice(Device.cpu(), false);
        ByteBuffer mine = direct(host.toByteBuffer());
        long bytes = mine.capacity();
        ByteBuffer all = ByteBuffer.allocateDirect(Math.toIntExact(bytes * n)).order(ByteOrder.nativeOrder());
        group.allGather(mine, all, bytes);
        NDArray[] ranks = new NDArray[n];
        for (int q = 0; q < n; q++) {
            if (q == group.rank()) {
                ranks[q] = out;
            } else {
                ByteBuffer slice = all.slice(Math.toIntExact(q * bytes), Math.toIntExact(bytes))
                        .order(ByteOrder.nativeOrder());
                // create copies the floats into memory the new array keeps (the gather buffer is this call's only).
                ranks[q] = m.create(slice.asFloatBuffer(), shape).toDevice(out.getDevice(), false);
            }
        }
        return ranks;
    }

    @Override
    public NDArray forwardShuffled(Block block, ParameterStore parameters, long seed, NDArray x) {
        return DataParallel.shuffledForward(this, block, parameters, seed, x);
    }

    /**
     * After a step: rank 0's batch-norm running statistics replace every other rank's (each rank updated its own
     * from its share of the rows), so between steps every rank holds the same model as the checkpoint rank 0
     * writes, and what a method computes from it between steps (DeepCluster's features at an epoch's start) is the
     * same on every rank.
     */
    public void syncRunningStatistics() {
        List<NDArray> stats = new ArrayList<>();
        synchronized (uses) {
            for (Parameter p : order) {
                if (p.getType() == Parameter.Type.RUNNING_MEAN || p.getType() == Parameter.Type.RUNNING_VAR) {
                    stats.add(p.getArray());
                }
            }
        }
        if (stats.isEmpty()) {
            return;
        }
        ByteBuffer buf = pack(stats, 0, statsBuffer);
        group.broadcast(buf, buf.capacity(), 0);
        int at = 0;
        for (NDArray a : stats) {
            int floats = Math.toIntExact(a.size());
            copyInto(a, buf.slice(at * 4, floats * 4).order(ByteOrder.nativeOrder()));
            at += floats;
        }
    }

    /** Asks every rank to stop after the current step (cancellation): the request travels with the gradients. */
    public void requestStop() {
        stopRequested = true;
    }

    /**
     * Sums every rank's gradients (one all-reduce), so each rank holds the gradient of the whole batch's loss.
     *
     * @return whether some rank asked to stop after this step ({@link #requestStop})
     * @throws IllegalStateException if a parameter was used both inside and outside a split forward pass (its
     *     gradient would be partly per rank and partly whole: no sum or mean is right)
     */
    public boolean reduceGradients() {
        List<Parameter> trained = new ArrayList<>();
        List<NDArray> grads = new ArrayList<>();
        synchronized (uses) {
            for (Parameter p : order) {
                if (!p.requiresGradient()) {
                    continue;
                }
                if (uses.get(p) == (INSIDE | OUTSIDE)) {
                    throw new IllegalStateException("parameter " + p.getName()
                            + " is used both in the split forward pass and after it; worker processes cannot"
                            + " reduce its gradient");
                }
                trained.add(p);
                grads.add(p.getArray().getGradient());
            }
        }
        // One more float after the gradients: 1 where a rank asks to stop.
        ByteBuffer buf = pack(grads, 1, gradientBuffer);
        buf.putFloat(buf.capacity() - 4, stopRequested ? 1f : 0f);
        group.allReduceSum(buf, buf.capacity() / 4);
        boolean stop = buf.getFloat(buf.capacity() - 4) > 0;
        float whole = 1f / group.size();
        int at = 0;
        for (int i = 0; i < trained.size(); i++) {
            NDArray g = grads.get(i);
            int floats = Math.toIntExact(g.size());
            float scale;
            synchronized (uses) {
                scale = uses.get(trained.get(i)) == OUTSIDE ? whole : 1f;
            }
            ByteBuffer slice = buf.slice(at * 4, floats * 4).order(ByteOrder.nativeOrder());
            if (scale != 1f) {
                for (int k = 0; k < floats; k++) {
                    slice.putFloat(k * 4, slice.getFloat(k * 4) * scale);
                }
            }
            copyInto(g, slice);
            at += floats;
        }
        return stop;
    }

    /**
     * Fails unless every rank holds the same {@code value} (a checksum of the weights, the step it resumes from):
     * ranks that disagree would train different models without noticing.
     *
     * @throws WorkersDisagreeException naming the ranks' values when they differ
     */
    public void checkSame(String what, double value) {
        double[] values = gatherValues(value);
        for (double v : values) {
            if (Double.compare(v, value) != 0) {
                throw new WorkersDisagreeException("the worker processes disagree on " + what + ": "
                        + java.util.Arrays.toString(values) + " (a rank computed differently; a CPU whose numbers are"
                        + " wrong is one cause: bench/check-cpu on each machine)");
            }
        }
    }

    /** Every rank's {@code value}, in rank order (per-rank step times for the run's metrics). */
    public double[] gatherValues(double value) {
        int n = group.size();
        ByteBuffer mine =
                ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()).putDouble(0, value);
        ByteBuffer all = ByteBuffer.allocateDirect(8 * n).order(ByteOrder.nativeOrder());
        group.allGather(mine, all, 8);
        double[] values = new double[n];
        for (int q = 0; q < n; q++) {
            values[q] = all.getDouble(q * 8);
        }
        return values;
    }

    /** Ends a step (nothing of it is kept here: the gathered arrays belong to the step's manager). */
    public void endStep() {}

    /**
     * Copies floats into an array's own memory. Not {@code NDArray.set(Buffer)}: libtorch's tensor would then use
     * a Java buffer that only the wrapper it was called on keeps alive, and a gradient's wrapper is a temporary one.
     */
    private static void copyInto(NDArray target, ByteBuffer floats) {
        try (NDArray values = target.getManager().create(floats.asFloatBuffer(), target.getShape())) {
            target.set(new NDIndex(":"), values.toDevice(target.getDevice(), false));
        }
    }

    /** The arrays' floats one after another in a direct buffer, with {@code extraFloats} more at the end. */
    private static ByteBuffer pack(List<NDArray> arrays, int extraFloats, ByteBuffer[] reuse) {
        long floats = extraFloats;
        for (NDArray a : arrays) {
            floats += a.size();
        }
        int bytes = Math.toIntExact(floats * 4);
        if (reuse[0].capacity() != bytes) {
            reuse[0] = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
        }
        ByteBuffer buf = reuse[0];
        buf.clear();
        for (NDArray a : arrays) {
            if (a.getDataType() != DataType.FLOAT32) {
                throw new IllegalStateException("worker processes reduce float32 arrays, got " + a.getDataType());
            }
            buf.put(a.toDevice(Device.cpu(), false).toByteBuffer().order(ByteOrder.nativeOrder()));
        }
        buf.clear();
        return buf;
    }

    private static ByteBuffer direct(ByteBuffer b) {
        if (b.isDirect() && b.order() == ByteOrder.nativeOrder()) {
            return b;
        }
        ByteBuffer d = ByteBuffer.allocateDirect(b.remaining()).order(ByteOrder.nativeOrder());
        d.put(b.duplicate().order(b.order()));
        d.clear();
        return d;
    }

    @Override
    public void close() {
        group.close();
    }

    /** The parameters themselves, with a note of where each was first and since used. */
    private final class RecordingStore extends ParameterStore {
        RecordingStore(NDManager manager) {
            super(manager, false);
        }

        @Override
        public NDArray getValue(Parameter parameter, Device device, boolean training) {
            if (parameter == null) {
                return null;
            }
            // Only training-mode uses shape gradients; an inference pass (features for clustering) is neither.
            int now = !training ? 0 : splitting ? INSIDE : OUTSIDE;
            synchronized (uses) {
                Integer before = uses.putIfAbsent(parameter, now);
                if (before == null) {
                    order.add(parameter);
                } else {
                    uses.put(parameter, before | now);
                }
            }
            return parameter.getArray();
        }
    }
}
