package dev.selfsup.trainer;

import ai.djl.ndarray.NDManager;
import com.google.protobuf.Timestamp;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.engine.EngineThreads;
import dev.selfsup.core.eval.EvaluationReport;
import dev.selfsup.core.eval.Evaluator;
import dev.selfsup.core.eval.KnnClassifier;
import dev.selfsup.core.eval.LinearProbe;
import dev.selfsup.core.method.Beit;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.method.UnsuitableDataException;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.CheckpointStore;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.train.TrainingDivergedException;
import dev.selfsup.proto.v1.Checkpoint;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.EvalResult;
import dev.selfsup.proto.v1.EvalSpec;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.service.DataRoot;
import dev.selfsup.service.GrpcErrors;
import dev.selfsup.service.ModelNames;
import io.grpc.Status;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.MultiEmitter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Owns the runs: queues them on a bounded worker pool (one run at a time per device by default), drives
 * core's Pretrainer, persists every state change, and fans events out to watchers.
 */
@ApplicationScoped
public class RunManager {
    private static final Logger LOG = Logger.getLogger(RunManager.class);
    private static final Set<RunState> ACTIVE = Set.of(RunState.RUN_STATE_QUEUED, RunState.RUN_STATE_RUNNING);

    @Inject
    RunStore store;

    @Inject
    DataRoot data;

    @Inject
    TrainingMetrics metrics;

    @Inject
    EncoderPublisher publisher;

    @Inject
    TokenizerClient tokenizerClient;

    @ConfigProperty(name = "selfsup.trainer.workers", defaultValue = "1")
    int workers;

    /** Evaluation features of one split held in memory at most; larger ones are written to var/tmp and streamed. */
    @ConfigProperty(name = "selfsup.eval.features-in-memory-mb", defaultValue = "1024")
    long evalFeaturesInMemoryMb;

    @ConfigProperty(name = "selfsup.var-dir", defaultValue = "var")
    Path varDir;

    @ConfigProperty(name = "selfsup.trainer.progress-every-steps", defaultValue = "10")
    int progressEverySteps;

    @ConfigProperty(name = "selfsup.trainer.max-queued-runs", defaultValue = "16")
    int maxQueuedRuns;

    @ConfigProperty(name = "selfsup.trainer.max-steps", defaultValue = "100000000")
    long maxSteps;

    @ConfigProperty(name = "selfsup.trainer.max-epochs", defaultValue = "10000")
    int maxEpochs;

    @ConfigProperty(name = "selfsup.trainer.max-batch-size", defaultValue = "4096")
    int maxBatchSize;

    @ConfigProperty(name = "selfsup.trainer.max-width", defaultValue = "1024")
    int maxWidth;

    @ConfigProperty(name = "selfsup.trainer.max-depth", defaultValue = "24")
    int maxDepth;

    /** Set at start when the state directory cannot be written: runs can be read, not started or resumed. */
    private volatile boolean readOnly;

    private ExecutorService pool;
    private volatile boolean shuttingDown;
    private final Map<String, Handle> runs = new ConcurrentHashMap<>();

    /** A run in memory: its current message, its trainer while it runs, and its watchers. */
    static final class Handle {
        volatile Run run;
        volatile Pretrainer trainer;
        volatile Future<?> future;
        volatile boolean cancelRequested;
        /** Its record failed its checksum at start: listed FAILED, never resumed from what it says. */
        volatile boolean untrusted;

        final List<MultiEmitter<? super RunEvent>> watchers = new CopyOnWriteArrayList<>();

        Handle(Run run) {
            this.run = run;
        }
    }

    void onStart(@Observes StartupEvent e) {
        pool = Executors.newFixedThreadPool(Math.max(1, workers), EngineThreads.factory("selfsup-trainer"));
        for (RunStore.Loaded loaded : store.loadAll()) {
            Run r = loaded.run();
            Handle h = new Handle(r);
            h.untrusted = loaded.problem() != null;
            runs.put(r.getRunId(), h);
            if (r.getState() == RunState.RUN_STATE_RUNNING) {
                // The service stopped under it: resumable from its last checkpoint.
                Run interrupted = r.toBuilder()
                        .setState(RunState.RUN_STATE_INTERRUPTED)
                        .setError("the service stopped while the run was training; ResumeRun continues it")
                        .build();
                try {
                    update(h, interrupted);
                } catch (UncheckedIOException ex) {
                    // The disk still says RUNNING, which the next start reads as interrupted too.
                    h.run = interrupted;
                    readOnly = true;
                }
            } else if (r.getState() == RunState.RUN_STATE_QUEUED) {
                h.future = pool.submit(() -> execute(h));
            }
        }
        readOnly |= !store.writable();
        refreshCounts();
        LOG.infof("%d runs in the registry", runs.size());
        if (readOnly) {
            LOG.errorf(
                    "the run registry %s cannot be written (read-only or full disk): serving read-only; "
                            + "StartRun and ResumeRun answer UNAVAILABLE until it can be written and the service restarts",
                    store.root());
        }
    }

    void onStop(@Observes ShutdownEvent e) {
        shuttingDown = true;
        for (Handle h : runs.values()) {
            Pretrainer t = h.trainer;
            if (t != null) {
                t.cancel(); // stops after the current step and writes a checkpoint
            }
        }
        pool.shutdown();
        try {
            if (!pool.awaitTermination(60, TimeUnit.SECONDS)) {
                pool.shutdownNow();
            }
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            pool.shutdownNow();
        }
    }

    // ---- API -----------------------------------------------------------------------------------------------

    public Run start(RunSpec spec) {
        String id = UUID.randomUUID().toString().substring(0, 8);
        if (!spec.getModelName().isEmpty()) {
            ModelNames.require("model_name", spec.getModelName());
        }
        PretrainConfig config = RunSpecs.toConfig(spec, store.checkpointDir(id));
        checkLimits(config);
        requireWritableAndRoom();
        // Read the data now, so a bad dataset is the caller's error, not a failed run later.
        ImageDataset d = data.load(spec.getDataset(), "train");
        checkFits(config, d);
        if (config.settings() instanceof Beit.Settings beit) {
            checkTokenizer(config, beit.tokenizer(), d);
        }
        Run run = Run.newBuilder()
                .setRunId(id)
                .setName(spec.getName())
                .setSpec(RunSpecs.effective(spec, config))
                .setState(RunState.RUN_STATE_QUEUED)
                .setTotalSteps(config.totalSteps(d.size()))
                .setCreatedAt(now())
                .build();
        Handle h = new Handle(run);
        synchronized (this) {
            // Checked again with the insert, under the lock: concurrent starts cannot all pass the early check.
            requireWritableAndRoom();
            store.save(run); // first: a run that could not be recorded does not exist
            runs.put(id, h);
            refreshCounts();
            h.future = pool.submit(() -> execute(h));
        }
        return run;
    }

    /** Every size a client can ask for is bounded by configuration. */
    private void checkLimits(PretrainConfig c) {
        limit("steps", c.steps(), maxSteps, "selfsup.trainer.max-steps");
        limit("epochs", c.steps() > 0 ? 0 : c.epochs(), maxEpochs, "selfsup.trainer.max-epochs");
        limit("batch_size", c.batchSize(), maxBatchSize, "selfsup.trainer.max-batch-size");
        limit("width", c.width(), maxWidth, "selfsup.trainer.max-width");
        limit("depth", c.depth(), maxDepth, "selfsup.trainer.max-depth");
    }

    private static void limit(String field, long value, long max, String key) {
        if (value > max) {
            throw RunSpecs.invalid(field + ": " + value + " is over this service's limit of " + max + " (" + key + ")");
        }
    }

    /** A new or resumed run needs a writable registry and room in the queue. */
    private void requireWritableAndRoom() {
        if (readOnly) {
            throw Status.UNAVAILABLE
                    .withDescription("the trainer cannot write its run registry (read-only or full disk), so it "
                            + "serves runs read-only; the operator must make it writable and restart the service")
                    .asRuntimeException();
        }
        long queued = runs.values().stream()
                .filter(h -> h.run.getState() == RunState.RUN_STATE_QUEUED)
                .count();
        if (queued >= maxQueuedRuns) {
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription(queued + " runs are already waiting, the most this service queues "
                            + "(selfsup.trainer.max-queued-runs); wait for one to start, or cancel one")
                    .asRuntimeException();
        }
    }

    /** BEiT's tokenizer exists on the tokenizer-service and cuts the images into the ViT's grid. */
    private void checkTokenizer(PretrainConfig c, String tokenizer, ImageDataset d) {
        try {
            var t = tokenizerClient.spec(tokenizer);
            float[] ones = new float[d.channels()];
            Arrays.fill(ones, 1f);
            BackboneSpec vit =
                    new BackboneSpec(c.backbone(), c.width(), c.depth(), d.channels(), d.height(), ones, ones);
            int grid = d.height() / vit.vitPatchSize();
            if (t.gridSize() != grid || t.imageSize() != d.height() || t.channels() != d.channels()) {
                throw new UnsuitableDataException("the tokenizer's grid does not match the ViT's: tokenizer '"
                        + tokenizer + "' reads " + t.channels() + "x" + t.imageSize() + " px images as a "
                        + t.gridSize() + "x" + t.gridSize() + " grid; the ViT cuts this dataset's " + d.channels() + "x"
                        + d.height() + " px images into " + grid + "x" + grid + " patches of " + vit.vitPatchSize()
                        + " px");
            }
        } catch (UnsuitableDataException e) {
            throw Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException();
        }
    }

    private static void checkFits(PretrainConfig c, ImageDataset d) {
        if (d.size() < c.batchSize()) {
            throw RunSpecs.invalid(
                    "batch_size: " + c.batchSize() + " is larger than the dataset (" + d.size() + " images)");
        }
        if (d.height() != d.width()) {
            throw RunSpecs.invalid("dataset: images must be square, got " + d.height() + "x" + d.width());
        }
        float[] ones = new float[d.channels()];
        Arrays.fill(ones, 1f);
        try {
            Methods.checkData(
                    c.method(),
                    c.settings(),
                    new BackboneSpec(c.backbone(), c.width(), c.depth(), d.channels(), d.height(), ones, ones),
                    d);
        } catch (UnsuitableDataException e) {
            throw Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException();
        } catch (IllegalArgumentException e) {
            throw RunSpecs.invalid(e.getMessage());
        }
        try {
            // A device the machine lacks (a GPU on a CPU host, more GPUs than it has) is refused now, not by a
            // failed run later.
            Devices.chooseAll(c.device(), c.replicas());
        } catch (IllegalStateException e) {
            throw Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException();
        }
    }

    public Run get(String id) {
        return handle(id).run;
    }

    public List<Run> list(Set<RunState> states) {
        return runs.values().stream()
                .map(h -> h.run)
                .filter(r -> states.isEmpty() || states.contains(r.getState()))
                .sorted(Comparator.comparing((Run r) -> r.getCreatedAt().getSeconds())
                        .reversed()
                        .thenComparing(Run::getRunId))
                .toList();
    }

    public synchronized Run cancel(String id) {
        Handle h = handle(id);
        RunState s = h.run.getState();
        if (s == RunState.RUN_STATE_QUEUED) {
            h.cancelRequested = true;
            if (h.future != null && h.future.cancel(false)) {
                update(
                        h,
                        h.run.toBuilder()
                                .setState(RunState.RUN_STATE_CANCELLED)
                                .setFinishedAt(now())
                                .build());
            }
            return h.run;
        }
        if (s == RunState.RUN_STATE_RUNNING) {
            h.cancelRequested = true;
            Pretrainer t = h.trainer;
            if (t != null) {
                t.cancel();
            }
            return h.run;
        }
        throw Status.FAILED_PRECONDITION
                .withDescription(
                        "run " + id + " is " + RunStates.label(s) + "; only queued or running runs can be cancelled")
                .asRuntimeException();
    }

    public synchronized Run resume(String id, boolean startOver) {
        Handle h = handle(id);
        if (h.untrusted) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("run " + id + " cannot resume: " + h.run.getError())
                    .asRuntimeException();
        }
        RunState s = h.run.getState();
        if (s != RunState.RUN_STATE_CANCELLED
                && s != RunState.RUN_STATE_FAILED
                && s != RunState.RUN_STATE_INTERRUPTED) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("run " + id + " is " + RunStates.label(s)
                            + "; only cancelled, failed or interrupted runs can be resumed")
                    .asRuntimeException();
        }
        // Before anything is deleted: a refused resume must leave the run as it was.
        requireWritableAndRoom();
        CheckpointStore checkpoints = new CheckpointStore(store.checkpointDir(id), 1);
        try {
            if (startOver) {
                checkpoints.clear();
            } else {
                checkpoints.latestUsable();
            }
        } catch (CheckpointStore.NoUsableCheckpointException e) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("run " + id + " cannot resume: " + e.getMessage()
                            + ". ResumeRun with start_over=true trains it again from step 0")
                    .asRuntimeException();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        h.cancelRequested = false;
        Run.Builder queued = h.run.toBuilder()
                .setState(RunState.RUN_STATE_QUEUED)
                .setError("")
                .clearFinishedAt();
        if (startOver) {
            queued.setStep(0).setCheckpointStep(0).setResumedFromStep(0).setLoss(0);
        }
        update(h, queued.build());
        h.future = pool.submit(() -> execute(h));
        return h.run;
    }

    public synchronized void delete(String id) {
        Handle h = handle(id);
        if (ACTIVE.contains(h.run.getState())) {
            throw Status.FAILED_PRECONDITION
                    .withDescription(
                            "run " + id + " is " + RunStates.label(h.run.getState()) + "; cancel it before deleting it")
                    .asRuntimeException();
        }
        runs.remove(id);
        store.delete(id);
        h.watchers.forEach(MultiEmitter::complete);
        refreshCounts();
    }

    /** The run's events: its current state first, then changes and progress, until it ends. */
    public Multi<RunEvent> watch(String id) {
        Handle h = handle(id);
        return Multi.createFrom().emitter(em -> {
            // Under the lock that every update holds: the watcher gets the current state, then exactly the
            // changes after it, never one state twice.
            synchronized (RunManager.this) {
                h.watchers.add(em);
                em.onTermination(() -> h.watchers.remove(em));
                Run current = h.run;
                em.emit(RunEvent.newBuilder().setTime(now()).setRun(current).build());
                if (!ACTIVE.contains(current.getState())) {
                    em.complete();
                }
            }
        });
    }

    public Path encoderFile(String id) {
        handle(id);
        Path f = store.encoderFile(id);
        if (!Files.isRegularFile(f)) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("run " + id + " has no encoder yet: it is written with " + "the first checkpoint")
                    .asRuntimeException();
        }
        return f;
    }

    /** The name a run's encoder is published under: the request's, the spec's, the run's name, or run-<id>. */
    String modelName(Run run, String requested) {
        if (!requested.isBlank()) {
            return ModelNames.require("model_name", requested);
        }
        if (!run.getSpec().getModelName().isBlank()) {
            return ModelNames.require("model_name", run.getSpec().getModelName());
        }
        // The run's name is free text: it names the model only if it is a valid model name as it stands.
        return ModelNames.valid(run.getName()) ? run.getName() : "run-" + run.getRunId();
    }

    /** Publishes the run's newest encoder to the configured encoder-service. Blocking. */
    public Run publish(String id, String modelName) {
        Handle h = handle(id);
        Path file = encoderFile(id);
        var info = publisher.publish(file, modelName(h.run, modelName), id);
        synchronized (this) {
            update(
                    h,
                    h.run.toBuilder()
                            .setPublishedModel(info.getName() + ":" + info.getVersion())
                            .clearPublishError()
                            .build());
            return h.run;
        }
    }

    /** kNN and linear probe of the run's newest encoder on a labelled split. Blocking: call off the event loop. */
    public EvalResult evaluate(String id, EvalSpec spec) {
        Handle h = handle(id);
        Path file = encoderFile(id);
        DatasetRef base = h.run.getSpec().getDataset().toBuilder().setLimit(0).build();
        DatasetRef trainRef = spec.hasTrain()
                ? spec.getTrain()
                : base.toBuilder().setSplit("train").build();
        DatasetRef testRef = spec.hasTest()
                ? spec.getTest()
                : base.toBuilder().setSplit("test").build();
        ImageDataset train = data.load(trainRef, "train");
        ImageDataset test = data.load(testRef, "test");
        if (!train.hasLabels() || !test.hasLabels()) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("evaluation needs labels; dataset '"
                            + (train.hasLabels() ? testRef.getPath() : trainRef.getPath()) + "' has none")
                    .asRuntimeException();
        }
        int k = spec.hasKnnK() ? spec.getKnnK() : 200;
        float t = spec.hasKnnTemperature() ? spec.getKnnTemperature() : 0.1f;
        if (k <= 0 || t <= 0) {
            throw RunSpecs.invalid("knn_k and knn_temperature must be positive");
        }
        long t0 = System.nanoTime();
        try (NDManager m = NDManager.newBaseManager(Devices.choose(devicePreference(h.run)))) {
            EncoderBundle.Loaded enc = EncoderBundle.read(file, m);
            if (enc.header().backbone().channels() != train.channels()
                    || enc.header().backbone().imageSize() != train.height()) {
                throw Status.INVALID_ARGUMENT
                        .withDescription("the encoder takes "
                                + enc.header().backbone().channels()
                                + "x" + enc.header().backbone().imageSize() + " images, the evaluation data has "
                                + train.channels() + "x" + train.height())
                        .asRuntimeException();
            }
            EvaluationReport r = new Evaluator(
                            new KnnClassifier(k, t),
                            new LinearProbe(),
                            evalFeaturesInMemoryMb << 20,
                            varDir.resolve("tmp"))
                    .evaluate(enc.encoder(), train, test, m);
            EvalResult result = EvalResult.newBuilder()
                    .setKnnAccuracy(r.knnAccuracy())
                    .setLinearAccuracy(r.linearAccuracy())
                    .setFeatureDim(r.featureDim())
                    .setTrainImages(r.trainImages())
                    .setTestImages(r.testImages())
                    .setStep(enc.header().provenance().steps())
                    .setDuration(duration(System.nanoTime() - t0))
                    .build();
            synchronized (this) {
                update(h, h.run.toBuilder().setLastEval(result).build());
            }
            return result;
        } catch (IOException e) {
            throw EncoderChunks.unreadable(id, e);
        }
    }

    private static String devicePreference(Run r) {
        return switch (r.getSpec().getDevice()) {
            case DEVICE_PREFERENCE_CPU -> "cpu";
            case DEVICE_PREFERENCE_GPU -> "gpu";
            default -> "auto";
        };
    }

    // ---- execution -----------------------------------------------------------------------------------------

    private void execute(Handle h) {
        if (h.cancelRequested) {
            synchronized (this) {
                update(
                        h,
                        h.run.toBuilder()
                                .setState(RunState.RUN_STATE_CANCELLED)
                                .setFinishedAt(now())
                                .build());
            }
            return;
        }
        String id = h.run.getRunId();
        Pretrainer trainer = null;
        try {
            PretrainConfig config = RunSpecs.toConfig(h.run.getSpec(), store.checkpointDir(id)).toBuilder()
                    .logEverySteps(progressEverySteps)
                    .build();
            ImageDataset d = data.load(h.run.getSpec().getDataset(), "train").withoutLabels();
            float[][] stats = Pretrainer.channelStats(d);
            trainer = new Pretrainer(config, d, stats[0], stats[1], new MethodResources(tokenizerClient::source));
            Pretrainer t = trainer;
            TrainingMetrics.RunMeters meters = metrics.run(id, config.method());
            trainer.devices().forEach(metrics::watchDevice);
            trainer.addListener(new Listener(h, t, meters));
            synchronized (this) {
                h.trainer = trainer;
                update(
                        h,
                        h.run.toBuilder()
                                .setState(RunState.RUN_STATE_RUNNING)
                                .setStartedAt(now())
                                .setDevice(trainer.deviceLabel())
                                .setTotalSteps(trainer.totalSteps())
                                .build());
            }
            if (h.cancelRequested) {
                trainer.cancel();
            }
            PretrainResult result = trainer.run();
            RunState end = result.status() == PretrainResult.Status.FINISHED
                    ? RunState.RUN_STATE_SUCCEEDED
                    : shuttingDown && !h.cancelRequested
                            ? RunState.RUN_STATE_INTERRUPTED
                            : RunState.RUN_STATE_CANCELLED;
            String published = "";
            String publishError = "";
            if (end == RunState.RUN_STATE_SUCCEEDED && publisher.enabled()) {
                // Before the run is marked done, so its final event already says where the encoder went.
                try {
                    var info = publisher.publish(store.encoderFile(id), modelName(h.run, ""), id);
                    published = info.getName() + ":" + info.getVersion();
                    LOG.infof("run %s: encoder published to %s as %s", id, publisher.address(), published);
                } catch (io.grpc.StatusRuntimeException e) {
                    publishError = "publishing to " + publisher.address() + " failed: "
                            + e.getStatus().getCode() + ": " + e.getStatus().getDescription()
                            + " (PublishEncoder retries)";
                    LOG.warnf("run %s: %s", id, publishError);
                }
            }
            synchronized (this) {
                Run.Builder b = h.run.toBuilder()
                        .setState(end)
                        .setStep(result.steps())
                        .setFinishedAt(now())
                        .setPublishedModel(published)
                        .setPublishError(publishError);
                if (end == RunState.RUN_STATE_INTERRUPTED) {
                    b.setError("the service stopped while the run was training; ResumeRun continues it");
                }
                update(h, b.build());
            }
        } catch (TrainingDivergedException e) {
            fail(h, e.getMessage());
        } catch (io.grpc.StatusRuntimeException e) {
            fail(h, e.getStatus().getDescription());
        } catch (Throwable e) {
            // The same words a client would get for this failure: no class names; a bug gets an id that the log
            // repeats beside the whole exception.
            LOG.errorf("run %s failed", id);
            fail(h, GrpcErrors.toStatus(e).getDescription());
        } finally {
            h.trainer = null;
            if (trainer != null) {
                trainer.close();
            }
        }
    }

    private synchronized void fail(Handle h, String why) {
        update(
                h,
                h.run.toBuilder()
                        .setState(RunState.RUN_STATE_FAILED)
                        .setError(why == null ? "unknown error" : why)
                        .setFinishedAt(now())
                        .build());
    }

    /** Turns core's training callbacks into run updates, events, metrics and encoder exports. */
    private final class Listener implements PretrainListener {
        private final Handle h;
        private final Pretrainer trainer;
        private final TrainingMetrics.RunMeters meters;

        Listener(Handle h, Pretrainer trainer, TrainingMetrics.RunMeters meters) {
            this.h = h;
            this.trainer = trainer;
            this.meters = meters;
        }

        @Override
        public void onStart(long startStep, long totalSteps) {
            synchronized (RunManager.this) {
                update(
                        h,
                        h.run.toBuilder()
                                .setResumedFromStep(startStep)
                                .setStep(startStep)
                                .build());
            }
        }

        @Override
        public void onStep(long step, double seconds, double wait, int images) {
            meters.step(seconds, wait, images);
        }

        @Override
        public void onProgress(PretrainListener.Progress p) {
            meters.imagesPerSecond = p.imagesPerSecond();
            meters.loss = p.loss();
            meters.learningRate = p.learningRate();
            meters.epoch = p.epoch();
            synchronized (RunManager.this) {
                h.run = h.run.toBuilder()
                        .setStep(p.step())
                        .setEpoch(p.epoch())
                        .setLoss(p.loss())
                        .setImagesPerSecond(p.imagesPerSecond())
                        .build();
            }
            RunEvent e = RunEvent.newBuilder()
                    .setTime(now())
                    .setProgress(dev.selfsup.proto.v1.Progress.newBuilder()
                            .setStep(p.step())
                            .setTotalSteps(p.totalSteps())
                            .setEpoch(p.epoch())
                            .setLoss(p.loss())
                            .setLearningRate(p.learningRate())
                            .setImagesPerSecond(p.imagesPerSecond())
                            .setEta(duration((long) (p.etaSeconds() * 1e9)))
                            .putAllMethodMetrics(p.methodMetrics()))
                    .build();
            h.watchers.forEach(w -> w.emit(e));
        }

        @Override
        public void onCheckpoint(Path file, long step, double seconds) {
            meters.checkpointWrite.record(java.time.Duration.ofNanos((long) (seconds * 1e9)));
            try {
                // The encoder is exported with each checkpoint, so evaluation and export never wait for the end.
                trainer.exportEncoder(store.encoderFile(h.run.getRunId()));
            } catch (IOException e) {
                LOG.warnf("run %s: encoder export failed: %s", h.run.getRunId(), e.getMessage());
            }
            synchronized (RunManager.this) {
                update(
                        h,
                        h.run.toBuilder().setCheckpointStep(step).setStep(step).build());
                RunEvent e = RunEvent.newBuilder()
                        .setTime(now())
                        .setCheckpoint(Checkpoint.newBuilder().setStep(step))
                        .build();
                h.watchers.forEach(w -> w.emit(e));
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    private Handle handle(String id) {
        if (id == null || id.isBlank()) {
            throw RunSpecs.invalid("run_id: required");
        }
        Handle h = runs.get(id);
        if (h == null) {
            throw Status.NOT_FOUND
                    .withDescription("no run with id '" + id + "'")
                    .asRuntimeException();
        }
        return h;
    }

    /**
     * Sets and persists a run's new message. Watchers hear of it only when its state changed (the proto's
     * promise); they are completed when it ended.
     */
    private void update(Handle h, Run run) {
        store.save(run); // first: a failed write changes nothing, memory and disk agree
        RunState before = h.run.getState();
        h.run = run;
        if (before == run.getState()) {
            return;
        }
        RunEvent e = RunEvent.newBuilder().setTime(now()).setRun(run).build();
        boolean ended = !ACTIVE.contains(run.getState());
        for (MultiEmitter<? super RunEvent> w : h.watchers) {
            w.emit(e);
            if (ended) {
                w.complete();
            }
        }
        refreshCounts();
    }

    private void refreshCounts() {
        Map<RunState, Integer> counts = new EnumMap<>(RunState.class);
        for (Handle h : runs.values()) {
            counts.merge(h.run.getState(), 1, Integer::sum);
        }
        metrics.setRunCounts(counts);
    }

    static Timestamp now() {
        Instant i = Instant.now();
        return Timestamp.newBuilder()
                .setSeconds(i.getEpochSecond())
                .setNanos(i.getNano())
                .build();
    }

    static com.google.protobuf.Duration duration(long nanos) {
        return com.google.protobuf.Duration.newBuilder()
                .setSeconds(nanos / 1_000_000_000L)
                .setNanos((int) (nanos % 1_000_000_000L))
                .build();
    }
}
