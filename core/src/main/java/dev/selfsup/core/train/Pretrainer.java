package dev.selfsup.core.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import com.fasterxml.jackson.databind.JsonNode;
import dev.selfsup.core.data.BatchLoader;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.engine.Precision;
import dev.selfsup.core.engine.Versions;
import dev.selfsup.core.eval.Features;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.io.TensorArchive;
import dev.selfsup.core.method.BatchForward;
import dev.selfsup.core.method.EpochContext;
import dev.selfsup.core.method.MethodContext;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.method.SslMethod;
import dev.selfsup.core.method.StepContext;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.optim.GradientOptimizer;
import dev.selfsup.core.optim.LearningRateSchedule;
import dev.selfsup.core.parallel.Collective;
import dev.selfsup.core.parallel.DataParallel;
import dev.selfsup.core.parallel.ProcessParallel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pretrains an encoder with a self-supervised method on unlabeled images: the training loop, its optimizer and
 * schedule, checkpoints, resume and cancellation.
 *
 * <p>Each step runs in its own sub-manager and NDScope, so every intermediate array (views, activations, gradients
 * handles, optimizer temporaries) is freed when the step ends and memory stays flat. Long-lived arrays
 * (parameters, optimizer state, a method's queue) are created before the first step. The loss is summed on the
 * device and read back only every {@code logEverySteps} steps, so a GPU step has no host round-trip.
 *
 * <p>Everything random is a pure function of (seed, step): the data order, each step's augmentations and the
 * initial weights. A run resumed from the checkpoint of step s therefore continues exactly as it would have.
 */
public final class Pretrainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Pretrainer.class);

    private final PretrainConfig config;
    private final ImageDataset data;
    private final Device device;
    private final List<Device> devices;
    /** Null on one device. */
    private final DataParallel parallel;
    /** Null in one process; else this rank's link to the run's other worker processes. */
    private final ProcessParallel processes;

    private final NDManager manager;
    /** The precision the forward passes run in: bfloat16 only where asked for and checked on this machine. */
    private final Precision precision;

    private final SslMethod method;
    private final GradientOptimizer optimizer;
    private final LearningRateSchedule schedule;
    private final CheckpointStore checkpoints;
    /** Null unless the run averages its encoder's weights ({@code ema_decay} > 0). */
    private final WeightAverage average;

    private final List<PretrainListener> listeners = new CopyOnWriteArrayList<>();
    private final long totalSteps;
    private final int stepsPerEpoch;
    private volatile boolean cancelRequested;
    private long step;
    private Path lastCheckpoint;

    /**
     * Builds the method and its parameters on the chosen device. Labels in {@code data}, if any, are not used.
     *
     * @param mean per-channel mean of the data in [0, 1] (from {@link #channelStats})
     * @param std per-channel standard deviation
     */
    public Pretrainer(PretrainConfig config, ImageDataset data, float[] mean, float[] std) {
        this(config, data, mean, std, MethodResources.NONE);
    }

    /**
     * @param resources what the method needs from outside the process (BEiT: its tokenizer)
     */
    public Pretrainer(PretrainConfig config, ImageDataset data, float[] mean, float[] std, MethodResources resources) {
        this(config, data, mean, std, resources, null);
    }

    /**
     * One rank of a run trained by {@code config.workers()} processes: each runs this with its own rank of the same
     * group, the same config and the same data. Rank 0 writes the checkpoints; every rank resumes from them.
     *
     * @param workers the run's worker processes, or null for one process
     * @throws IllegalArgumentException if the group's size is not {@code config.workers()}
     */
    public Pretrainer(
            PretrainConfig config,
            ImageDataset data,
            float[] mean,
            float[] std,
            MethodResources resources,
            Collective workers) {
        int ranks = workers == null ? 1 : workers.size();
        if (ranks != config.workers()) {
            throw new IllegalArgumentException(
                    "workers: the run asks for " + config.workers() + " but " + ranks + " joined");
        }
        this.config = config;
        this.data = data;
        this.devices = ranks > 1
                ? List.of(Devices.forRank(config.device(), workers.rank()))
                : Devices.chooseAll(config.device(), config.replicas());
        this.device = devices.get(0);
        this.precision = Precision.choose(config.precision(), device);
        this.stepsPerEpoch = config.stepsPerEpoch(data.size());
        this.totalSteps = config.totalSteps(data.size());
        if (data.size() < config.batchSize()) {
            throw new IllegalArgumentException(
                    "batch_size: " + config.batchSize() + " is larger than the dataset (" + data.size() + " images)");
        }
        BackboneSpec spec = new BackboneSpec(
                config.backbone(), config.width(), config.depth(), data.channels(), data.height(), mean, std);
        if (data.height() != data.width()) {
            throw new IllegalArgumentException("images must be square, got " + data.height() + "x" + data.width());
        }
        this.manager = NDManager.newBaseManager(device);
        Engine.getInstance().setRandomSeed((int) config.seed());
        this.method = Methods.create(
                config.method(),
                config.settings(),
                new MethodContext(spec, data, resources, config.seed(), config.batchSize(), totalSteps));
        method.prepare(data, manager);
        Shape imageShape = new Shape(data.channels(), data.height(), data.width());
        method.initialize(manager, imageShape);
        this.average = config.emaDecay() > 0
                ? new WeightAverage(method.encoder(), spec, imageShape, manager, config.emaDecay())
                : null;
        this.parallel =
                devices.size() > 1 ? new DataParallel(devices, "sync".equals(config.batchNorm()), manager) : null;
        this.processes = ranks > 1 ? new ProcessParallel(workers, manager) : null;
        this.optimizer = GradientOptimizer.create(
                config.optimizer(), config.momentum(), config.weightDecay(), config.clipNorm());
        optimizer.init(method.trainable().getParameters(), manager);
        long warmup = Math.round(config.warmupEpochs() * stepsPerEpoch);
        this.schedule = new LearningRateSchedule(
                config.learningRate(),
                Math.min(warmup, totalSteps),
                totalSteps,
                config.learningRate() * config.finalLrFraction());
        this.checkpoints = config.checkpointDir() == null
                ? null
                : new CheckpointStore(config.checkpointDir(), config.keepCheckpoints());
    }

    /** The most images {@link #channelStats} reads from a dataset that is not in memory. */
    public static final int STATS_SAMPLE = 10_000;

    /**
     * Per-channel mean and standard deviation of pixel values in [0, 1]: over the whole dataset when it is in memory,
     * over {@link #STATS_SAMPLE} evenly spaced images when it is read from disk (a pass over a million files would
     * cost more than the statistics are worth).
     */
    public static float[][] channelStats(ImageDataset d) {
        int c = d.channels();
        double[] sum = new double[c];
        double[] sq = new double[c];
        int plane = d.height() * d.width();
        int images = d.inMemory() ? d.size() : Math.min(d.size(), STATS_SAMPLE);
        int[] order = new int[images];
        for (int k = 0; k < images; k++) {
            order[k] = (int) ((long) k * d.size() / images);
        }
        int chunk = 256;
        ByteBuffer buf = ByteBuffer.allocate(chunk * d.imageBytes());
        for (int from = 0; from < images; from += chunk) {
            int n = Math.min(chunk, images - from);
            buf.clear();
            d.copyImages(order, from, n, buf);
            byte[] px = buf.array();
            for (int k = 0; k < n; k++) {
                for (int ch = 0; ch < c; ch++) {
                    int base = (k * c + ch) * plane;
                    for (int at = 0; at < plane; at++) {
                        double v = (px[base + at] & 0xff) / 255.0;
                        sum[ch] += v;
                        sq[ch] += v * v;
                    }
                }
            }
        }
        float[] mean = new float[c];
        float[] std = new float[c];
        double n = (double) images * plane;
        for (int ch = 0; ch < c; ch++) {
            mean[ch] = (float) (sum[ch] / n);
            std[ch] = (float) Math.max(1e-3, Math.sqrt(Math.max(0, sq[ch] / n - mean[ch] * (double) mean[ch])));
        }
        return new float[][] {mean, std};
    }

    public void addListener(PretrainListener l) {
        listeners.add(l);
    }

    public SslMethod method() {
        return method;
    }

    /** The precision the run trains in, with why when it is not the one asked for. */
    public Precision precision() {
        return precision;
    }

    /** The first device: where the batch, the loss and the master parameters live. */
    public Device device() {
        return device;
    }

    /**
     * Where the run trains, for people and provenance: "cpu()", "2 replicas on [gpu(0), gpu(1)]", or "2 workers on
     * cpu()".
     */
    public String deviceLabel() {
        if (processes != null) {
            return config.workers() + " workers on " + device;
        }
        return devices.size() == 1 ? device.toString() : devices.size() + " replicas on " + devices;
    }

    /** This process's rank among the run's worker processes (0 in a run of one process). */
    public int rank() {
        return processes == null ? 0 : processes.group().rank();
    }

    /** Whether this process writes checkpoints and reports: the only process, or rank 0 of the workers. */
    public boolean leader() {
        return rank() == 0;
    }

    /** One device per data-parallel replica (one device when the run is not data-parallel). */
    public List<Device> devices() {
        return devices;
    }

    public NDManager manager() {
        return manager;
    }

    public long totalSteps() {
        return totalSteps;
    }

    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** Steps done so far. */
    public long step() {
        return step;
    }

    /**
     * Asks the run to stop after the current step; it writes a checkpoint first, so it can be resumed. With worker
     * processes the request travels with the step's gradients, so every rank stops after the same step.
     */
    public void cancel() {
        cancelRequested = true;
        if (processes != null) {
            processes.requestStop();
        }
    }

    /** The provenance of the encoder as it is now. */
    public Provenance provenance() {
        // The precision it trained in, not the one asked for: the provenance must repeat the run.
        Map<String, Object> training = new java.util.LinkedHashMap<>(config.trainingSettings());
        training.put("precision", precision.used());
        Map<String, Object> h = Provenance.hyperparameters(training, config.methodSettings(), method.derivedValues());
        return new Provenance(
                method.name(),
                method.backboneSpec(),
                h,
                data.name(),
                data.fingerprint(),
                data.size(),
                config.seed(),
                step,
                (double) step / stepsPerEpoch,
                Versions.selfsup(),
                Versions.djl(),
                Versions.engine(),
                deviceLabel(),
                Instant.now());
    }

    /**
     * Runs to the end, resuming from the newest checkpoint in the checkpoint folder if there is one.
     *
     * @throws TrainingDivergedException if the loss becomes NaN or infinite
     */
    public PretrainResult run() throws IOException {
        GradMode.disableOnThisThread();
        if (checkpoints != null) {
            Optional<CheckpointStore.Loaded> latest = checkpoints.latestUsable();
            if (latest.isPresent()) {
                restore(latest.get());
            }
        }
        if (processes != null) {
            // Every rank must start from the same checkpoint and hold the same weights, or they train apart.
            processes.checkSame("the step to start from", step);
            processes.checkSame("a checksum of the weights", weightChecksum());
        }
        for (PretrainListener l : listeners) {
            l.onStart(step, totalSteps);
        }
        ParameterStore ps = parallel != null
                ? parallel.parameters()
                : processes != null ? processes.parameters() : new ParameterStore(manager, false);
        BatchForward batchForward =
                parallel != null ? parallel : processes != null ? processes : BatchForward.ONE_DEVICE;
        if (precision.bfloat16()) {
            batchForward = BatchForward.inBfloat16(batchForward, device);
        }
        boolean stopAgreed = false;
        NDArray lossSum = manager.zeros(new Shape());
        int lossCount = 0;
        double lastLoss = Double.NaN;
        long intervalStart = System.nanoTime();
        long intervalImages = 0;
        PretrainResult result;
        boolean resumedInsideEpoch = step % stepsPerEpoch != 0;
        try (BatchLoader loader =
                new BatchLoader(data, config.batchSize(), config.seed(), step, method.sampler(), method.hostViews())) {
            // With workers every rank stops after the step whose gradients carried the request, never on its own.
            while (step < totalSteps && !(processes == null ? cancelRequested : stopAgreed)) {
                if (step % stepsPerEpoch == 0 || resumedInsideEpoch) {
                    long epochStart = System.nanoTime();
                    method.beforeEpoch(new EpochContext(
                            step / stepsPerEpoch,
                            resumedInsideEpoch,
                            ps,
                            data,
                            manager,
                            config.seed(),
                            optimizer::resetState,
                            precision.bfloat16()));
                    resumedInsideEpoch = false;
                    LOG.debug(
                            "epoch {} prepared in {} s", step / stepsPerEpoch, (System.nanoTime() - epochStart) / 1e9);
                }
                long t0 = System.nanoTime();
                long wait0 = loader.waitNanos();
                float lr = schedule.at(step);
                try (NDManager stepManager = manager.newSubManager();
                        NDScope scope = new NDScope()) {
                    BatchLoader.Batch batch = loader.nextBatch(stepManager, device);
                    NDArray images = batch.images();
                    StepContext ctx = new StepContext(
                            ps,
                            StepContext.random(config.seed(), step),
                            step,
                            batch.indices(),
                            batch.views(),
                            batchForward);
                    if (parallel != null) {
                        // Before the forward pass rather than after the update: a method may change the master
                        // parameters between steps (DeepCluster re-initialises its classifier each epoch).
                        parallel.broadcast();
                    }
                    NDArray loss;
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        loss = method.loss(ctx, images);
                        gc.backward(loss);
                    }
                    GradMode.disableOnThisThread();
                    if (parallel != null) {
                        parallel.reduceGradients();
                    }
                    if (processes != null) {
                        stopAgreed = processes.reduceGradients();
                    }
                    optimizer.step(lr);
                    method.afterStep(ctx);
                    if (processes != null) {
                        processes.syncRunningStatistics();
                    }
                    if (average != null) {
                        average.update(step);
                    }
                    lossSum.addi(loss.stopGradient());
                } finally {
                    if (parallel != null) {
                        parallel.endStep();
                    }
                    if (processes != null) {
                        processes.endStep();
                    }
                }
                step++;
                lossCount++;
                intervalImages += config.batchSize();
                double seconds = (System.nanoTime() - t0) / 1e9;
                double wait = (loader.waitNanos() - wait0) / 1e9;
                for (PretrainListener l : listeners) {
                    l.onStep(step, seconds, wait, config.batchSize());
                }
                if (step % config.logEverySteps() == 0 || step == totalSteps) {
                    lastLoss = lossSum.getFloat() / lossCount;
                    checkFinite(lastLoss);
                    lossSum.subi(lossSum);
                    lossCount = 0;
                    double elapsed = (System.nanoTime() - intervalStart) / 1e9;
                    double ips = intervalImages / Math.max(1e-9, elapsed);
                    long intervalSteps = intervalImages / config.batchSize();
                    intervalStart = System.nanoTime();
                    intervalImages = 0;
                    Map<String, Double> metrics = method.progressMetrics();
                    if (processes != null) {
                        metrics = workerMetrics(metrics, elapsed, intervalSteps);
                    }
                    var p = new PretrainListener.Progress(
                            step,
                            totalSteps,
                            (double) step / stepsPerEpoch,
                            lastLoss,
                            lr,
                            ips,
                            (totalSteps - step) * config.batchSize() / Math.max(1e-9, ips),
                            metrics);
                    for (PretrainListener l : listeners) {
                        l.onProgress(p);
                    }
                }
                if (checkpoints != null
                        && leader()
                        && config.checkpointEverySteps() > 0
                        && step % config.checkpointEverySteps() == 0
                        && step < totalSteps) {
                    lastLoss = verifiedLoss(lossSum, lossCount, lastLoss);
                    saveCheckpoint();
                }
            }
            if (processes != null) {
                // Every rank must end with rank 0's model: a rank that trained apart fails the run here.
                processes.checkSame("a checksum of the weights after step " + step, weightChecksum());
            }
            if (step >= totalSteps && method.recalibrateBatchNorm() && leader()) {
                recalibrateBatchNorm(method.encoder(), ps);
                if (average != null) {
                    recalibrateBatchNorm(average.encoder(), new ParameterStore(manager, false));
                }
            }
            if (checkpoints != null && leader()) {
                lastLoss = verifiedLoss(lossSum, lossCount, lastLoss);
                saveCheckpoint();
            }
            result = new PretrainResult(
                    step >= totalSteps ? PretrainResult.Status.FINISHED : PretrainResult.Status.CANCELLED,
                    step,
                    lastLoss,
                    lastCheckpoint,
                    null);
        } catch (TrainingDivergedException e) {
            result = new PretrainResult(PretrainResult.Status.FAILED, step, Double.NaN, lastCheckpoint, e.getMessage());
            for (PretrainListener l : listeners) {
                l.onEnd(result);
            }
            throw e;
        } finally {
            lossSum.close();
        }
        for (PretrainListener l : listeners) {
            l.onEnd(result);
        }
        return result;
    }

    private long lastCollectiveNanos;
    private long lastCollectiveBytes;

    /**
     * The method's metrics and the workers': the slowest rank's seconds per step, this rank's share of a step spent
     * in collectives (waiting for slower ranks included) and the megabytes it sent to them per step. Every rank
     * reports at the same steps, so the gather of step times is one more collective there.
     */
    private Map<String, Double> workerMetrics(Map<String, Double> method, double elapsed, long steps) {
        Map<String, Double> m = new LinkedHashMap<>(method);
        double perStep = elapsed / Math.max(1, steps);
        double slowest = 0;
        for (double v : processes.gatherValues(perStep)) {
            slowest = Math.max(slowest, v);
        }
        long nanos = processes.group().nanos();
        long bytes = processes.group().bytes();
        m.put("worker_step_seconds_slowest", slowest);
        m.put("worker_collective_share", (nanos - lastCollectiveNanos) / 1e9 / Math.max(1e-9, elapsed));
        m.put("worker_collective_mb_per_step", (bytes - lastCollectiveBytes) / 1e6 / Math.max(1, steps));
        lastCollectiveNanos = nanos;
        lastCollectiveBytes = bytes;
        return m;
    }

    /** The sum of every trained weight, in double: equal on every rank of a run, or they have trained apart. */
    public double weightChecksum() {
        double sum = 0;
        for (Pair<String, Parameter> p : method.trainable().getParameters()) {
            for (float v : p.getValue().getArray().toFloatArray()) {
                sum += v;
            }
        }
        return sum;
    }

    /** Batches of whole images whose statistics replace the patch statistics of batch norm (momentum 0.9). */
    static final int RECALIBRATION_BATCHES = 50;

    /**
     * Re-estimates the encoder's batch-norm running statistics on whole images: forward passes in training mode,
     * without gradients, over a seeded sample of the data (as SWA's update_bn does). After 50 batches at
     * momentum 0.9 the old statistics weigh 0.5%.
     */
    private void recalibrateBatchNorm(Block encoder, ParameterStore ps) {
        long t0 = System.nanoTime();
        int batches = Math.min(RECALIBRATION_BATCHES, data.size() / config.batchSize());
        int[] order = BatchLoader.permutation(data.size(), config.seed(), -1);
        for (int b = 0; b < batches; b++) {
            try (NDManager m = manager.newSubManager();
                    NDScope scope = new NDScope()) {
                NDArray x = Features.images(data, order, b * config.batchSize(), config.batchSize(), m, device);
                encoder.forward(ps, new NDList(x), true);
            }
        }
        LOG.info(
                "batch-norm statistics re-estimated on {} batches of whole images in {} s",
                batches,
                String.format("%.1f", (System.nanoTime() - t0) / 1e9));
    }

    /** Reads the pending loss sum before a checkpoint: a checkpoint is never written from diverged weights. */
    private double verifiedLoss(NDArray lossSum, int count, double last) {
        if (count == 0) {
            return last;
        }
        double v = lossSum.getFloat() / count;
        checkFinite(v);
        return v;
    }

    private void checkFinite(double loss) {
        if (!Double.isFinite(loss)) {
            throw new TrainingDivergedException("the loss became " + loss + " by step " + step
                    + " (lower the learning rate or enable gradient clipping); the last good checkpoint is "
                    + (lastCheckpoint == null ? "none" : lastCheckpoint.toString()));
        }
    }

    // ---- checkpoints -------------------------------------------------------------------------------------

    /** The header of a checkpoint file. */
    public record CheckpointHeader(
            String kind, int formatVersion, long step, PretrainConfig config, Provenance provenance) {}

    /** Writes a checkpoint of the current state now. */
    public Path saveCheckpoint() throws IOException {
        if (checkpoints == null) {
            throw new IllegalStateException("no checkpoint folder configured");
        }
        long t0 = System.nanoTime();
        Map<String, TensorArchive.Tensor> tensors = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : method.trainable().getParameters()) {
            tensors.put(
                    "model/" + p.getKey(), TensorArchive.Tensor.of(p.getValue().getArray()));
        }
        method.state().forEach((k, v) -> tensors.put("method/" + k, TensorArchive.Tensor.of(v)));
        optimizer.state().forEach((k, v) -> tensors.put("optim/" + k, TensorArchive.Tensor.of(v)));
        if (average != null) {
            average.state().forEach((k, v) -> tensors.put("ema/" + k, TensorArchive.Tensor.of(v)));
        }
        String header = Json.write(new CheckpointHeader(
                "checkpoint", 1, step, config.toBuilder().checkpointDir(null).build(), provenance()));
        Path file = checkpoints.fileFor(step);
        TensorArchive.write(file, header, tensors);
        checkpoints.prune();
        lastCheckpoint = file;
        double seconds = (System.nanoTime() - t0) / 1e9;
        LOG.debug("checkpoint {} in {} s", file, seconds);
        for (PretrainListener l : listeners) {
            l.onCheckpoint(file, step, seconds);
        }
        return file;
    }

    private void restore(CheckpointStore.Loaded loaded) throws IOException {
        TensorArchive.Contents c = loaded.contents();
        JsonNode header = Json.MAPPER.readTree(c.header());
        if (!"checkpoint".equals(header.path("kind").asText())) {
            throw new IOException(loaded.file() + ": not a checkpoint");
        }
        String savedMethod = header.path("config").path("method").asText();
        if (!savedMethod.equals(config.method())) {
            throw new IOException(
                    loaded.file() + ": checkpoint of method " + savedMethod + ", this run is " + config.method());
        }
        List<String> missing = new ArrayList<>();
        for (Pair<String, Parameter> p : method.trainable().getParameters()) {
            copy(c, "model/" + p.getKey(), p.getValue().getArray(), missing, loaded.file());
        }
        method.state().forEach((k, v) -> copy(c, "method/" + k, v, missing, loaded.file()));
        optimizer.state().forEach((k, v) -> copy(c, "optim/" + k, v, missing, loaded.file()));
        if (average != null) {
            average.state().forEach((k, v) -> copy(c, "ema/" + k, v, missing, loaded.file()));
        }
        if (!missing.isEmpty()) {
            throw new IOException(loaded.file() + ": does not match this run's model; missing " + missing);
        }
        method.stateRestored();
        optimizer.stateRestored();
        step = header.path("step").asLong();
        lastCheckpoint = loaded.file();
        LOG.info("resumed from {} at step {}", loaded.file(), step);
    }

    private static void copy(TensorArchive.Contents c, String name, NDArray target, List<String> missing, Path file) {
        TensorArchive.Tensor t = c.tensors().get(name);
        if (t == null) {
            missing.add(name);
            return;
        }
        try {
            t.copyInto(target, name);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The encoder to evaluate and export: the average of its weights when the run keeps one ({@code ema_decay}),
     * else the method's encoder as trained.
     */
    public Block evaluationEncoder() {
        return average != null ? average.encoder() : method.encoder();
    }

    /** Exports {@link #evaluationEncoder} with its provenance, atomically. */
    public void exportEncoder(Path file) throws IOException {
        EncoderBundle.write(file, evaluationEncoder(), method.backboneSpec(), provenance());
    }

    @Override
    public void close() {
        if (parallel != null) {
            parallel.close();
        }
        if (processes != null) {
            processes.close();
        }
        method.release();
        manager.close();
    }
}
