package dev.selfsup.core.workers;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.IntraOpThreads;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.parallel.CollectiveException;
import dev.selfsup.core.parallel.GlooCollective;
import dev.selfsup.core.parallel.WorkersDisagreeException;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One rank of a run trained by worker processes, like torchrun's workers: reads the {@link WorkerJob}, meets the
 * other ranks, trains, and prints one JSON line per progress report and one at the end to standard output.
 *
 * <p>Arguments, or the environment variables a cluster's launcher sets (a Kubernetes Indexed Job, SLURM):
 * <ul>
 *   <li>{@code --job FILE} or {@code SELFSUP_WORKER_JOB}: the job, on a volume every rank reads;
 *   <li>{@code SELFSUP_WORKER_STORE} and {@code SELFSUP_WORKER_PREFIX}: the rendezvous, instead of the job's;
 *   <li>{@code --rank R} or {@code SELFSUP_WORKER_RANK}, else {@code JOB_COMPLETION_INDEX} or {@code SLURM_PROCID};
 *   <li>{@code --host ADDRESS} or {@code SELFSUP_WORKER_HOST}: where the others reach this rank (default: the
 *       address this host's name resolves to);
 *   <li>{@code --threads N} or {@code SELFSUP_INTRA_OP_THREADS}: libtorch threads per operation (default: all);
 *   <li>{@code --export FILE} or {@code SELFSUP_WORKER_EXPORT}: rank 0 writes the trained encoder there at the end.
 * </ul>
 * Exit status: 0 when the run finished or was cancelled, 3 when a peer was lost (the run resumes from its last
 * checkpoint), 2 for a wrong job or argument, 1 for any other failure.
 */
public final class WorkerMain {
    /** A peer died or hung: every rank of the attempt ends with this status. */
    public static final int PEER_LOST = 3;

    private WorkerMain() {}

    /** Runs one rank; see the class comment for its arguments. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                System.err.println(
                        "usage: WorkerMain --job FILE --rank R [--host ADDRESS] [--threads N] [--export FILE]");
                return 2;
            }
            opts.put(args[i].substring(2), args[++i]);
        }
        String job = first(opts.get("job"), System.getenv("SELFSUP_WORKER_JOB"));
        String rankText = first(
                opts.get("rank"),
                System.getenv("SELFSUP_WORKER_RANK"),
                System.getenv("JOB_COMPLETION_INDEX"),
                System.getenv("SLURM_PROCID"));
        if (job == null || rankText == null) {
            System.err.println("worker: give the job (--job or SELFSUP_WORKER_JOB) and the rank (--rank,"
                    + " SELFSUP_WORKER_RANK, JOB_COMPLETION_INDEX or SLURM_PROCID)");
            return 2;
        }
        int rank;
        try {
            rank = Integer.parseInt(rankText.trim());
        } catch (NumberFormatException e) {
            System.err.println("worker: the rank must be a number, got " + rankText);
            return 2;
        }
        String threads = first(opts.get("threads"), System.getenv("SELFSUP_INTRA_OP_THREADS"));
        if (threads != null) {
            IntraOpThreads.set(Integer.parseInt(threads.trim()));
        }
        String host = first(opts.get("host"), System.getenv("SELFSUP_WORKER_HOST"), "");
        try {
            WorkerJob w = WorkerJob.read(Path.of(job))
                    .withRendezvous(System.getenv("SELFSUP_WORKER_STORE"), System.getenv("SELFSUP_WORKER_PREFIX"));
            if (w.store() == null || w.prefix() == null) {
                System.err.println("worker: the job names no rendezvous: give \"store\" and \"prefix\" in it, or"
                        + " SELFSUP_WORKER_STORE (redis://host:port or file:/shared/folder) and SELFSUP_WORKER_PREFIX");
                return 2;
            }
            PretrainConfig config = w.config();
            ImageDataset data = w.source().open();
            float[][] stats = w.mean() != null && w.std() != null
                    ? new float[][] {w.mean(), w.std()}
                    : Pretrainer.channelStats(data);
            try (GlooCollective group = GlooCollective.connect(
                            w.rendezvous(),
                            rank,
                            config.workers(),
                            host,
                            Duration.ofSeconds(w.connectSeconds()),
                            Duration.ofSeconds(w.timeoutSeconds()));
                    Pretrainer trainer =
                            new Pretrainer(config, data, stats[0], stats[1], MethodResources.NONE, group)) {
                trainer.addListener(new PretrainListener() {
                    @Override
                    public void onProgress(Progress p) {
                        Map<String, Object> line = new LinkedHashMap<>();
                        line.put("rank", rank);
                        line.put("step", p.step());
                        line.put("loss", p.loss());
                        line.put("images_per_second", p.imagesPerSecond());
                        line.put("metrics", p.methodMetrics());
                        System.out.println(Json.write(line));
                    }
                });
                PretrainResult r = trainer.run();
                String export = first(opts.get("export"), System.getenv("SELFSUP_WORKER_EXPORT"));
                if (export != null && trainer.leader() && r.status() == PretrainResult.Status.FINISHED) {
                    trainer.exportEncoder(Path.of(export));
                }
                Map<String, Object> end = new LinkedHashMap<>();
                end.put("rank", rank);
                end.put("status", r.status().name());
                end.put("steps", r.steps());
                end.put("final_loss", r.finalLoss());
                end.put("weight_checksum", trainer.weightChecksum());
                System.out.println(Json.write(end));
                return r.status() == PretrainResult.Status.FAILED ? 1 : 0;
            }
        } catch (CollectiveException e) {
            System.err.println("worker " + rank + ": lost its peers: " + e.getMessage());
            return PEER_LOST;
        } catch (WorkersDisagreeException e) {
            System.err.println("worker " + rank + ": " + e.getMessage());
            return 1;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            System.err.println(
                    "worker " + rank + ": the job " + job + " is not a valid job: " + e.getOriginalMessage());
            return 2;
        } catch (java.nio.file.NoSuchFileException e) {
            System.err.println("worker " + rank + ": no such file: " + e.getFile());
            return 2;
        } catch (IllegalArgumentException e) {
            System.err.println("worker " + rank + ": " + e.getMessage());
            return 2;
        } catch (Exception e) {
            System.err.println("worker " + rank + " failed: " + e);
            e.printStackTrace();
            return 1;
        }
    }

    private static String first(String... values) {
        for (String v : values) {
            if (v != null && !v.isBlank()) {
                return v;
            }
        }
        return null;
    }
}
