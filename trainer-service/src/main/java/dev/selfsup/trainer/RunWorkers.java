package dev.selfsup.trainer;

import dev.selfsup.core.data.DatasetSource;
import dev.selfsup.core.parallel.GlooCollective;
import dev.selfsup.core.parallel.Rendezvous;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.workers.LocalWorkers;
import dev.selfsup.core.workers.WorkerJob;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The worker processes of a run that asks for {@code workers} above 1, on this host: writes the run's
 * {@link WorkerJob} beside its checkpoints, starts ranks 1 to N-1 as child JVMs and joins them as rank 0 (the
 * service's own training thread). Each attempt (a start or a resume) meets under its own prefix in a rendezvous
 * folder of the run, so it never reads a dead attempt's addresses.
 */
@ApplicationScoped
public class RunWorkers {
    private static final Logger LOG = Logger.getLogger(RunWorkers.class);

    @Inject
    RunStore store;

    /** How long the ranks wait for each other to start and meet. */
    @ConfigProperty(name = "selfsup.trainer.worker-processes.connect-timeout", defaultValue = "90s")
    Duration connectTimeout;

    /** How long a rank waits for a peer in a step before the run ends INTERRUPTED (a peer that hangs). */
    @ConfigProperty(name = "selfsup.trainer.worker-processes.timeout", defaultValue = "60s")
    Duration timeout;

    /** A run's started workers and rank 0's link to them; closing it kills the workers still running. */
    static final class Attempt implements AutoCloseable {
        final LocalWorkers workers;
        final GlooCollective group;
        final int threads;

        Attempt(LocalWorkers workers, GlooCollective group, int threads) {
            this.workers = workers;
            this.group = group;
            this.threads = threads;
        }

        @Override
        public void close() {
            try {
                // Workers that finished or stopped with the run leave by themselves; give them a moment.
                workers.awaitEnd(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                workers.close();
                group.close();
            }
        }
    }

    /**
     * Starts ranks 1..N-1 and joins them as rank 0. Each process gets an equal share of this host's cores for
     * libtorch's threads.
     *
     * @throws dev.selfsup.core.parallel.CollectiveException if they do not all meet within the connect timeout
     */
    Attempt start(String runId, PretrainConfig config, DatasetSource data, float[] mean, float[] std)
            throws IOException {
        int n = config.workers();
        Path dir = store.runDir(runId).resolve("workers");
        String attempt = "attempt-" + System.currentTimeMillis();
        Path job = dir.resolve(attempt + ".json");
        Rendezvous rendezvous = Rendezvous.folder(dir.resolve("rendezvous"), runId + "/" + attempt);
        WorkerJob.of(
                        config,
                        data,
                        mean,
                        std,
                        rendezvous,
                        Math.toIntExact(connectTimeout.toSeconds()),
                        Math.toIntExact(timeout.toSeconds()))
                .write(job);
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / n);
        LocalWorkers workers = LocalWorkers.start(job, 1, n, threads, dir.resolve(attempt + "-logs"));
        LOG.infof(
                "run %s: started %d worker processes (%d libtorch threads each), rendezvous %s",
                runId, n - 1, threads, rendezvous);
        try {
            GlooCollective group = GlooCollective.connect(rendezvous, 0, n, "127.0.0.1", connectTimeout, timeout);
            return new Attempt(workers, group, threads);
        } catch (RuntimeException e) {
            String why = workers.failure();
            String summary = workers.failureSummary();
            boolean byItself = workers.failedByItself();
            workers.close();
            if (why != null) {
                if (byItself) {
                    LOG.warnf("run %s: %s", runId, why);
                    throw new FailedToStart(summary + " before the workers met", e);
                }
                throw new dev.selfsup.core.parallel.CollectiveException(why, e);
            }
            throw e;
        }
    }

    /**
     * A worker process ended by its own failure before the ranks met (a wrong job, an error loading the data): the
     * run fails, as a resume would meet the same end. The message names no file; the service's log has the worker's
     * last line.
     */
    static final class FailedToStart extends RuntimeException {
        FailedToStart(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
