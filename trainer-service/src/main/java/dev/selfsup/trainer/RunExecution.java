package dev.selfsup.trainer;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.IntraOpThreads;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.parallel.CollectiveException;
import dev.selfsup.core.parallel.WorkersDisagreeException;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.train.TrainingDivergedException;
import dev.selfsup.proto.v1.Checkpoint;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.service.DataRoot;
import dev.selfsup.service.GrpcErrors;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Path;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Trains one run on a worker thread: builds core's {@link Pretrainer} from the run's spec, turns its callbacks into
 * run updates, events, metrics and encoder exports, publishes the encoder of a run that succeeded, and records how
 * the run ended. A failure becomes the run's error in the words a client would get, never a class name.
 */
@ApplicationScoped
public class RunExecution {
    private static final Logger LOG = Logger.getLogger(RunExecution.class);

    @Inject
    RunTable table;

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

    @Inject
    RunWorkers runWorkers;

    @ConfigProperty(name = "selfsup.trainer.progress-every-steps", defaultValue = "10")
    int progressEverySteps;

    private volatile boolean shuttingDown;

    /** The service is stopping: runs cancelled from now on by the shutdown end INTERRUPTED, not CANCELLED. */
    void shuttingDown() {
        shuttingDown = true;
    }

    /** Trains the run to its end, cancellation or failure. */
    void execute(RunTable.Handle h) {
        if (h.cancelRequested) {
            synchronized (table) {
                table.update(
                        h,
                        h.run.toBuilder()
                                .setState(RunState.RUN_STATE_CANCELLED)
                                .setFinishedAt(RunTable.now())
                                .build());
            }
            return;
        }
        String id = h.id();
        Pretrainer trainer = null;
        RunWorkers.Attempt workers = null;
        int threadsBefore = -1;
        try {
            // The config admitted with the run; a run from the store or resumed maps its recorded spec again.
            PretrainConfig admitted =
                    h.config != null ? h.config : RunSpecs.toConfig(h.run.getSpec(), store.checkpointDir(id));
            PretrainConfig config =
                    admitted.toBuilder().logEverySteps(progressEverySteps).build();
            ImageDataset d = data.load(h.run.getSpec().getDataset(), "train").withoutLabels();
            float[][] stats = Pretrainer.channelStats(d);
            if (config.workers() > 1) {
                workers = runWorkers.start(
                        id, config, data.source(h.run.getSpec().getDataset(), "train"), stats[0], stats[1]);
                // libtorch's thread count is per thread: this training thread takes its share of the cores.
                threadsBefore = IntraOpThreads.get();
                IntraOpThreads.set(workers.threads);
            }
            trainer = new Pretrainer(
                    config,
                    d,
                    stats[0],
                    stats[1],
                    new MethodResources(tokenizerClient::source),
                    workers == null ? null : workers.group);
            TrainingMetrics.RunMeters meters = metrics.run(id, config.method());
            trainer.devices().forEach(metrics::watchDevice);
            trainer.addListener(new Listener(h, trainer, meters));
            synchronized (table) {
                h.trainer = trainer;
                table.update(
                        h,
                        h.run.toBuilder()
                                .setState(RunState.RUN_STATE_RUNNING)
                                .setStartedAt(RunTable.now())
                                .setDevice(trainer.deviceLabel())
                                .setPrecision(trainer.precision().used())
                                .setPrecisionNote(
                                        trainer.precision().reason() == null
                                                ? ""
                                                : trainer.precision().reason())
                                .setTotalSteps(trainer.totalSteps())
                                .build());
            }
            if (h.cancelRequested) {
                trainer.cancel();
            }
            PretrainResult result = trainer.run();
            finish(h, result);
        } catch (RunWorkers.FailedToStart e) {
            fail(h, e.getMessage() + "; the service's log has its last line");
        } catch (CollectiveException e) {
            if (workers != null) {
                // The peers stop when one is lost; a moment lets the one that failed be seen with its status.
                awaitWorkers(workers);
            }
            String exited = workers == null ? null : workers.workers.failureSummary();
            LOG.warnf(
                    "run %s: a worker process was lost: %s%s",
                    id, e.getMessage(), workers == null ? "" : " (" + workers.workers.failure() + ")");
            if (workers != null && workers.workers.failedByItself()) {
                // Its own error, not a kill or a lost connection: say so, though a resume may still get past it.
                fail(
                        h,
                        exited + " (the service's log has its last line); the run stopped on every worker, and"
                                + " ResumeRun continues from its last checkpoint");
            } else {
                interrupted(
                        h,
                        (exited != null ? exited : lostPeer(e.getMessage()))
                                + "; the run stopped on every worker, and ResumeRun continues from its last checkpoint");
            }
        } catch (TrainingDivergedException | WorkersDisagreeException e) {
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
            if (workers != null) {
                workers.close();
            }
            if (threadsBefore > 0) {
                IntraOpThreads.set(threadsBefore);
            }
        }
    }

    private static void awaitWorkers(RunWorkers.Attempt workers) {
        try {
            workers.workers.awaitEnd(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** What a lost peer means for a person, in place of the collective engine's words. */
    private String lostPeer(String engineMessage) {
        String m = engineMessage == null ? "" : engineMessage.toLowerCase(java.util.Locale.ROOT);
        if (m.contains("timed out")) {
            return "a worker process did not answer within " + runWorkers.timeout.toSeconds()
                    + " s (selfsup.trainer.worker-processes.timeout)";
        }
        return "a worker process closed its connection (it stopped)";
    }

    private void interrupted(RunTable.Handle h, String why) {
        synchronized (table) {
            table.update(
                    h,
                    h.run.toBuilder()
                            .setState(RunState.RUN_STATE_INTERRUPTED)
                            .setError(why)
                            .setFinishedAt(RunTable.now())
                            .build());
        }
    }

    /** Records how a run that stopped by itself ended, after publishing the encoder of one that succeeded. */
    private void finish(RunTable.Handle h, PretrainResult result) {
        RunState end = result.status() == PretrainResult.Status.FINISHED
                ? RunState.RUN_STATE_SUCCEEDED
                : shuttingDown && !h.cancelRequested ? RunState.RUN_STATE_INTERRUPTED : RunState.RUN_STATE_CANCELLED;
        String published = "";
        String publishError = "";
        if (end == RunState.RUN_STATE_SUCCEEDED && publisher.enabled()) {
            // Before the run is marked done, so its final event already says where the encoder went.
            try {
                var info = publisher.publish(store.encoderFile(h.id()), RunSpecs.modelName(h.run, ""), h.id());
                published = info.getName() + ":" + info.getVersion();
                LOG.infof("run %s: encoder published to %s as %s", h.id(), publisher.address(), published);
            } catch (io.grpc.StatusRuntimeException e) {
                publishError = "publishing to " + publisher.address() + " failed: "
                        + e.getStatus().getCode() + ": " + e.getStatus().getDescription() + " (PublishEncoder retries)";
                LOG.warnf("run %s: %s", h.id(), publishError);
            }
        }
        synchronized (table) {
            Run.Builder b = h.run.toBuilder()
                    .setState(end)
                    .setStep(result.steps())
                    .setFinishedAt(RunTable.now())
                    .setPublishedModel(published)
                    .setPublishError(publishError);
            if (end == RunState.RUN_STATE_INTERRUPTED) {
                b.setError("the service stopped while the run was training; ResumeRun continues it");
            }
            table.update(h, b.build());
        }
    }

    private void fail(RunTable.Handle h, String why) {
        synchronized (table) {
            table.update(
                    h,
                    h.run.toBuilder()
                            .setState(RunState.RUN_STATE_FAILED)
                            .setError(why == null ? "unknown error" : why)
                            .setFinishedAt(RunTable.now())
                            .build());
        }
    }

    /** Turns core's training callbacks into run updates, events, metrics and encoder exports. */
    private final class Listener implements PretrainListener {
        private final RunTable.Handle h;
        private final Pretrainer trainer;
        private final TrainingMetrics.RunMeters meters;

        Listener(RunTable.Handle h, Pretrainer trainer, TrainingMetrics.RunMeters meters) {
            this.h = h;
            this.trainer = trainer;
            this.meters = meters;
        }

        @Override
        public void onStart(long startStep, long totalSteps) {
            synchronized (table) {
                table.update(
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
            meters.workers(p.methodMetrics());
            synchronized (table) {
                h.run = h.run.toBuilder()
                        .setStep(p.step())
                        .setEpoch(p.epoch())
                        .setLoss(p.loss())
                        .setImagesPerSecond(p.imagesPerSecond())
                        .build();
            }
            table.emit(
                    h,
                    RunEvent.newBuilder()
                            .setTime(RunTable.now())
                            .setProgress(dev.selfsup.proto.v1.Progress.newBuilder()
                                    .setStep(p.step())
                                    .setTotalSteps(p.totalSteps())
                                    .setEpoch(p.epoch())
                                    .setLoss(p.loss())
                                    .setLearningRate(p.learningRate())
                                    .setImagesPerSecond(p.imagesPerSecond())
                                    .setEta(RunTable.duration((long) (p.etaSeconds() * 1e9)))
                                    .putAllMethodMetrics(p.methodMetrics()))
                            .build());
        }

        @Override
        public void onCheckpoint(Path file, long step, double seconds) {
            meters.checkpointWrite.record(java.time.Duration.ofNanos((long) (seconds * 1e9)));
            try {
                // The encoder is exported with each checkpoint, so evaluation and export never wait for the end.
                trainer.exportEncoder(store.encoderFile(h.id()));
            } catch (IOException e) {
                LOG.warnf("run %s: encoder export failed: %s", h.id(), e.getMessage());
            }
            synchronized (table) {
                table.update(
                        h,
                        h.run.toBuilder().setCheckpointStep(step).setStep(step).build());
                table.emit(
                        h,
                        RunEvent.newBuilder()
                                .setTime(RunTable.now())
                                .setCheckpoint(Checkpoint.newBuilder().setStep(step))
                                .build());
            }
        }
    }
}
