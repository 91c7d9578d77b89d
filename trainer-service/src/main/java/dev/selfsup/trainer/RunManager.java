package dev.selfsup.trainer;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.EngineThreads;
import dev.selfsup.core.train.CheckpointStore;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.proto.v1.EvalResult;
import dev.selfsup.proto.v1.EvalSpec;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.service.ModelNames;
import io.grpc.Status;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The runs' life cycle: accepts a run ({@link RunAdmission}), queues it on a bounded worker pool (one run at a time
 * per device by default) where {@link RunExecution} trains it, and cancels, resumes, deletes, publishes and
 * evaluates runs ({@link RunEvaluations}). Every state lives in the {@link RunTable} and is saved by the
 * {@link RunStore} before anyone sees it.
 */
@ApplicationScoped
public class RunManager {
    private static final Logger LOG = Logger.getLogger(RunManager.class);

    @Inject
    RunStore store;

    @Inject
    RunTable table;

    @Inject
    RunAdmission admission;

    @Inject
    RunExecution execution;

    @Inject
    RunEvaluations evaluations;

    @Inject
    EncoderPublisher publisher;

    @ConfigProperty(name = "selfsup.trainer.workers", defaultValue = "1")
    int workers;

    @ConfigProperty(name = "selfsup.trainer.max-queued-runs", defaultValue = "16")
    int maxQueuedRuns;

    /** Set at start when the state directory cannot be written: runs can be read, not started or resumed. */
    private volatile boolean readOnly;

    private ExecutorService pool;

    void onStart(@Observes StartupEvent e) {
        pool = Executors.newFixedThreadPool(Math.max(1, workers), EngineThreads.factory("selfsup-trainer"));
        for (RunStore.Loaded loaded : store.loadAll()) {
            Run r = loaded.run();
            RunTable.Handle h = new RunTable.Handle(r);
            h.untrusted = loaded.problem() != null;
            table.add(h);
            if (r.getState() == RunState.RUN_STATE_RUNNING) {
                // The service stopped under it: resumable from its last checkpoint.
                Run interrupted = r.toBuilder()
                        .setState(RunState.RUN_STATE_INTERRUPTED)
                        .setError("the service stopped while the run was training; ResumeRun continues it")
                        .build();
                try {
                    synchronized (table) {
                        table.update(h, interrupted);
                    }
                } catch (UncheckedIOException ex) {
                    // The disk still says RUNNING, which the next start reads as interrupted too.
                    h.run = interrupted;
                    readOnly = true;
                }
            } else if (r.getState() == RunState.RUN_STATE_QUEUED) {
                h.future = pool.submit(() -> execution.execute(h));
            }
        }
        readOnly |= !store.writable();
        table.refreshCounts();
        LOG.infof("%d runs in the registry", table.size());
        if (readOnly) {
            LOG.errorf(
                    "the run registry %s cannot be written (read-only or full disk): serving read-only; "
                            + "StartRun and ResumeRun answer UNAVAILABLE until it can be written and the service restarts",
                    store.root());
        }
    }

    void onStop(@Observes ShutdownEvent e) {
        execution.shuttingDown();
        for (RunTable.Handle h : table.all()) {
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
        admission.checkLimits(config);
        requireWritableAndRoom();
        // Read the data now, so a bad dataset is the caller's error, not a failed run later.
        ImageDataset d = admission.checkData(spec, config);
        Run run = Run.newBuilder()
                .setRunId(id)
                .setName(spec.getName())
                .setSpec(RunSpecs.effective(spec, config))
                .setState(RunState.RUN_STATE_QUEUED)
                .setTotalSteps(config.totalSteps(d.size()))
                .setCreatedAt(RunTable.now())
                .build();
        RunTable.Handle h = new RunTable.Handle(run);
        h.config = config;
        synchronized (table) {
            // Checked again with the insert, under the lock: concurrent starts cannot all pass the early check.
            requireWritableAndRoom();
            store.save(run); // first: a run that could not be recorded does not exist
            table.add(h);
            h.future = pool.submit(() -> execution.execute(h));
        }
        return run;
    }

    /** A new or resumed run needs a writable registry and room in the queue. */
    private void requireWritableAndRoom() {
        if (readOnly) {
            throw Status.UNAVAILABLE
                    .withDescription("the trainer cannot write its run registry (read-only or full disk), so it "
                            + "serves runs read-only; the operator must make it writable and restart the service")
                    .asRuntimeException();
        }
        long queued = table.queued();
        if (queued >= maxQueuedRuns) {
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription(queued + " runs are already waiting, the most this service queues "
                            + "(selfsup.trainer.max-queued-runs); wait for one to start, or cancel one")
                    .asRuntimeException();
        }
    }

    public Run get(String id) {
        return table.handle(id).run;
    }

    public List<Run> list(Set<RunState> states) {
        return table.list(states);
    }

    public Run cancel(String id) {
        synchronized (table) {
            RunTable.Handle h = table.handle(id);
            RunState s = h.run.getState();
            if (s == RunState.RUN_STATE_QUEUED) {
                h.cancelRequested = true;
                if (h.future != null && h.future.cancel(false)) {
                    table.update(
                            h,
                            h.run.toBuilder()
                                    .setState(RunState.RUN_STATE_CANCELLED)
                                    .setFinishedAt(RunTable.now())
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
                    .withDescription("run " + id + " is " + RunStates.label(s)
                            + "; only queued or running runs can be cancelled")
                    .asRuntimeException();
        }
    }

    public Run resume(String id, boolean startOver) {
        synchronized (table) {
            RunTable.Handle h = table.handle(id);
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
            table.update(h, queued.build());
            h.future = pool.submit(() -> execution.execute(h));
            return h.run;
        }
    }

    public void delete(String id) {
        synchronized (table) {
            RunTable.Handle h = table.handle(id);
            if (RunTable.ACTIVE.contains(h.run.getState())) {
                throw Status.FAILED_PRECONDITION
                        .withDescription("run " + id + " is " + RunStates.label(h.run.getState())
                                + "; cancel it before deleting it")
                        .asRuntimeException();
            }
            store.delete(id);
            table.remove(h);
        }
    }

    /** The run's events: its current state first, then changes and progress, until it ends. */
    public Multi<RunEvent> watch(String id) {
        return table.watch(id);
    }

    /** The run's newest exported encoder: FAILED_PRECONDITION before its first checkpoint. */
    public Path encoderFile(String id) {
        table.handle(id);
        Path f = store.encoderFile(id);
        if (!Files.isRegularFile(f)) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("run " + id + " has no encoder yet: it is written with the first checkpoint")
                    .asRuntimeException();
        }
        return f;
    }

    /** Publishes the run's newest encoder to the configured encoder-service. Blocking. */
    public Run publish(String id, String modelName) {
        RunTable.Handle h = table.handle(id);
        Path file = encoderFile(id);
        var info = publisher.publish(file, RunSpecs.modelName(h.run, modelName), id);
        synchronized (table) {
            table.update(
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
        RunTable.Handle h = table.handle(id);
        return evaluations.evaluate(h, encoderFile(id), spec);
    }
}
