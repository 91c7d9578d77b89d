package dev.selfsup.core.parallel;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.selfsup.core.engine.EngineThreads;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.method.BatchForward;
import dev.selfsup.core.nn.BatchNormSync;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * Data-parallel training in one process: each forward pass splits the batch over N replicas of the model, one per
 * device, runs them at the same time (one thread each), and gathers their outputs on the first device, where the
 * method computes its loss over the whole batch (SimCLR's negatives come from every replica). One backward pass
 * then reaches every replica; {@link #reduceGradients} adds the replicas' gradients into the master parameters
 * (replica 0, the model's own arrays), the optimizer updates those, and {@link #broadcast} copies them to the
 * replicas before the next step, so the replicas stay identical and checkpoints hold the master only.
 *
 * <p>Batch norm is per replica (each normalises its shard, as on separate GPUs) or synchronised
 * ({@link BatchNormSync}: every replica normalises with the whole batch's statistics). With synchronised batch norm
 * a step over N replicas equals a step over the whole batch on one device, up to float rounding; the tests prove it
 * with N replicas on the CPU. Replicas on the same device are real copies too, so that proof covers the copies, the
 * gradient reduction and the broadcast as a GPU run uses them.
 */
public final class DataParallel implements BatchForward, AutoCloseable {
    private final List<Device> devices;
    private final boolean syncBatchNorm;
    private final NDManager manager;
    // One thread per replica, so that a replica's arrays of a step are registered in, and freed by, one scope.
    private final List<ExecutorService> workers;
    // Per replica, the scope of the current step's arrays; touched only by that replica's thread.
    private final NDScope[] stepScopes;
    private final ThreadLocal<Integer> replica = ThreadLocal.withInitial(() -> 0);
    private final ReplicaStore store;
    // Per parameter, its copy on each replica (index 0 unused: replica 0 is the parameter's own array).
    private final Map<Parameter, NDArray[]> copies = new IdentityHashMap<>();

    /**
     * @param devices one device per replica, the first holding the master parameters and the batch
     * @param syncBatchNorm normalise with the whole batch's statistics rather than each replica's
     * @param manager where the replicas' copies of the parameters live
     */
    public DataParallel(List<Device> devices, boolean syncBatchNorm, NDManager manager) {
        if (devices.isEmpty()) {
            throw new IllegalArgumentException("data-parallel training needs at least one device");
        }
        this.devices = List.copyOf(devices);
        this.syncBatchNorm = syncBatchNorm;
        this.manager = manager;
        List<ExecutorService> threads = new ArrayList<>(devices.size());
        for (int i = 0; i < devices.size(); i++) {
            threads.add(Executors.newSingleThreadExecutor(EngineThreads.factory("selfsup-replica-" + i)));
        }
        this.workers = List.copyOf(threads);
        this.stepScopes = new NDScope[devices.size()];
        this.store = new ReplicaStore(manager);
    }

    /** The parameter store blocks must be run with: it hands each replica its own copy of every parameter. */
    public ai.djl.training.ParameterStore parameters() {
        return store;
    }

    /** The devices, one per replica. */
    public List<Device> devices() {
        return devices;
    }

    @Override
    public int replicas() {
        return devices.size();
    }

    @Override
    public NDArray forward(Block block, ai.djl.training.ParameterStore parameters, NDArray... parts) {
        int n = devices.size();
        long b = parts[0].getShape().get(0);
        if (b % n != 0) {
            throw new IllegalArgumentException("a batch of " + b + " does not split evenly over " + n + " replicas");
        }
        long per = b / n;
        List<NDArray> shards = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            NDList pieces = new NDList(parts.length);
            for (NDArray part : parts) {
                pieces.add(part.get(i * per + ":" + (i + 1) * per));
            }
            NDArray shard = pieces.size() == 1 ? pieces.get(0) : NDArrays.concat(pieces, 0);
            shards.add(shard.toDevice(devices.get(i), false));
        }
        List<NDArray> outputs = runOnReplicas(
                i -> block.forward(parameters, new NDList(shards.get(i)), true).singletonOrThrow());
        // Back in batch order on the first device: part by part, replica by replica.
        Device first = devices.get(0);
        NDList ordered = new NDList(parts.length * n);
        for (int p = 0; p < parts.length; p++) {
            for (NDArray out : outputs) {
                ordered.add(out.get(p * per + ":" + (p + 1) * per).toDevice(first, false));
            }
        }
        return ordered.size() == 1 ? ordered.get(0) : NDArrays.concat(ordered, 0);
    }

    @Override
    public NDArray forwardShuffled(Block block, ai.djl.training.ParameterStore parameters, long seed, NDArray x) {
        return shuffledForward(this, block, parameters, seed, x);
    }

    /**
     * Shuffle-BN over any split: the rows of {@code x} in the order {@link #permutation} gives for {@code seed},
     * through {@code split}, and the output put back in batch order.
     */
    static NDArray shuffledForward(
            BatchForward split, Block block, ai.djl.training.ParameterStore parameters, long seed, NDArray x) {
        int b = (int) x.getShape().get(0);
        if (split.replicas() == 1) {
            return split.forward(block, parameters, x);
        }
        int[] order = permutation(b, seed);
        long[] shuffle = new long[b];
        long[] unshuffle = new long[b];
        for (int i = 0; i < b; i++) {
            shuffle[i] = order[i];
            unshuffle[order[i]] = i;
        }
        NDManager m = x.getManager();
        NDArray shuffled = x.get(new NDIndex("{}", m.create(shuffle).toDevice(x.getDevice(), false)));
        NDArray out = split.forward(block, parameters, shuffled);
        return out.get(new NDIndex("{}", m.create(unshuffle).toDevice(out.getDevice(), false)));
    }

    /** A permutation of 0..n-1, a pure function of the seed. */
    static int[] permutation(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ 0x5DEECE66DL);
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /**
     * Runs {@code task(i)} for every replica i at the same time, each on its own thread with its own parameters
     * and, when asked, in one batch-norm group. The calling thread's grad mode is the workers' too. Arrays a task
     * makes, but for its output, are freed by {@link #endStep}.
     */
    private List<NDArray> runOnReplicas(IntFunction<NDArray> task) {
        int n = devices.size();
        boolean recording = GradMode.isEnabledOnThisThread();
        BatchNormSync group = syncBatchNorm ? new BatchNormSync(n) : null;
        List<Future<NDArray>> futures = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int index = i;
            futures.add(workers.get(i).submit(() -> runOne(index, task, recording, group)));
        }
        List<NDArray> outputs = new ArrayList<>(n);
        // The first failure that is not another replica giving up because of it.
        RuntimeException cause = null;
        RuntimeException consequence = null;
        for (Future<NDArray> f : futures) {
            try {
                outputs.add(f.get());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (group != null) {
                    group.abort();
                }
                consequence = new IllegalStateException("interrupted during a forward pass", e);
            } catch (ExecutionException e) {
                RuntimeException r = e.getCause() instanceof RuntimeException re
                        ? re
                        : new IllegalStateException(e.getCause().getMessage(), e.getCause());
                if (r.getCause() instanceof BrokenBarrierException) {
                    consequence = consequence == null ? r : consequence;
                } else if (cause == null) {
                    cause = r;
                }
            }
        }
        if (cause != null || consequence != null) {
            throw cause != null ? cause : consequence;
        }
        return outputs;
    }

    private NDArray runOne(int index, IntFunction<NDArray> task, boolean recording, BatchNormSync group) {
        replica.set(index);
        GradMode.setOnThisThread(recording);
        if (stepScopes[index] == null) {
            stepScopes[index] = new NDScope();
        }
        BatchNormSync.Member member = group == null ? null : group.join(index);
        try {
            NDArray out = task.apply(index);
            if (member != null) {
                member.close();
                member = null;
            }
            NDScope.unregister(out);
            return out;
        } catch (RuntimeException | Error e) {
            if (group != null) {
                group.abort();
            }
            throw e;
        } finally {
            if (member != null) {
                member.leave();
            }
            GradMode.setOnThisThread(false);
            replica.remove();
        }
    }

    /**
     * Frees the arrays the replicas made during this step. Call it once the step's backward pass and update are
     * done, never earlier: an array made from Java data (DJL keeps such an array's memory in a Java buffer) may be
     * needed by the backward pass after its last use in the forward pass, and the engine does not keep that memory
     * alive on its own.
     */
    public void endStep() {
        List<Future<?>> done = new ArrayList<>(workers.size());
        for (int i = 0; i < workers.size(); i++) {
            int index = i;
            done.add(workers.get(i).submit(() -> {
                NDScope scope = stepScopes[index];
                stepScopes[index] = null;
                if (scope != null) {
                    scope.close();
                }
            }));
        }
        for (Future<?> f : done) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while freeing a step's arrays", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException(
                        "freeing a step's arrays failed: " + e.getCause().getMessage(), e);
            }
        }
    }

    /**
     * Adds each replica's gradients into the master parameters' gradients and clears the replicas'. After this the
     * master holds the gradient of the whole batch's loss, as on one device.
     */
    public void reduceGradients() {
        Device first = devices.get(0);
        synchronized (copies) {
            for (Map.Entry<Parameter, NDArray[]> e : copies.entrySet()) {
                if (!e.getKey().requiresGradient()) {
                    continue;
                }
                NDArray master = e.getKey().getArray().getGradient();
                NDArray[] row = e.getValue();
                for (int r = 1; r < row.length; r++) {
                    if (row[r] == null) {
                        continue;
                    }
                    NDArray g = row[r].getGradient();
                    master.addi(g.toDevice(first, false));
                    if (row[r] instanceof PtNDArray pt) {
                        JniUtils.zeroGrad(pt);
                    } else {
                        g.subi(g);
                    }
                }
            }
        }
    }

    /** Copies every master parameter (weights and batch-norm statistics) to its replicas. */
    public void broadcast() {
        synchronized (copies) {
            for (Map.Entry<Parameter, NDArray[]> e : copies.entrySet()) {
                NDArray master = e.getKey().getArray();
                NDArray[] row = e.getValue();
                for (int r = 1; r < row.length; r++) {
                    if (row[r] != null) {
                        row[r].set(new NDIndex(":"), master.toDevice(devices.get(r), false));
                    }
                }
            }
        }
    }

    private NDArray copyFor(Parameter p, int r) {
        synchronized (copies) {
            NDArray[] row = copies.computeIfAbsent(p, k -> new NDArray[devices.size()]);
            if (row[r] == null) {
                boolean recording = GradMode.isEnabledOnThisThread();
                GradMode.setOnThisThread(false);
                try {
                    NDArray master = p.getArray();
                    NDArray c = devices.get(r).equals(master.getDevice())
                            ? master.duplicate()
                            : master.toDevice(devices.get(r), true);
                    NDScope.unregister(c);
                    c.attach(manager);
                    if (p.requiresGradient()) {
                        c.setRequiresGradient(true);
                    }
                    row[r] = c;
                } finally {
                    GradMode.setOnThisThread(recording);
                }
            }
            return row[r];
        }
    }

    @Override
    public void close() {
        try {
            endStep();
        } finally {
            for (ExecutorService w : workers) {
                w.shutdownNow();
            }
        }
    }

    /** Hands replica 0 the parameters themselves and every other replica its copy. */
    private final class ReplicaStore extends ai.djl.training.ParameterStore {
        ReplicaStore(NDManager manager) {
            super(manager, false);
        }

        @Override
        public NDArray getValue(Parameter parameter, Device device, boolean training) {
            if (parameter == null) {
                return null;
            }
            int r = replica.get();
            return r == 0 ? parameter.getArray() : copyFor(parameter, r);
        }
    }
}
