package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.DatasetSource;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.data.ReadOptions;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.io.TensorArchive;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.parallel.GlooForTests;
import dev.selfsup.core.parallel.Rendezvous;
import dev.selfsup.core.train.CheckpointStore;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.workers.LocalWorkers;
import dev.selfsup.core.workers.WorkerJob;
import dev.selfsup.core.workers.WorkerMain;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Training across worker processes proven on the CPU: 2 and 4 JVMs, each a rank that runs its share of every batch
 * and all-reduces gradients through Gloo on loopback, compute the same loss at every step and end with the same
 * parameters, method state and optimizer state as one process that splits the same batches over as many
 * per-device replicas; a killed worker ends the other ranks (no hang), and the run resumes from rank 0's
 * checkpoint to the same weights as a run that was never interrupted.
 */
class WorkerProcessesTest {
    @TempDir
    Path dir;

    @BeforeEach
    void shimBuilt() {
        GlooForTests.require();
    }

    /** DataParallelTest's small run (plain SGD, per-device batch norm) over replicas or worker processes. */
    private static PretrainConfig config(String method, int replicas, int workers, long steps, Path ckpt, long every) {
        return DataParallelTest.config(method, replicas, "per-device", steps, ckpt).toBuilder()
                .workers(workers)
                .checkpointEverySteps(every)
                .keepCheckpoints(100)
                .build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"simclr", "moco-v2", "byol", "rotation", "deepcluster"})
    void twoWorkerProcessesEqualOneProcess(String method) throws Exception {
        provedEqual(method, 2);
    }

    @Test
    void fourWorkerProcessesEqualOneProcess() throws Exception {
        provedEqual("simclr", 4);
    }

    /** DeepCluster clusters at each epoch's start (6 steps here) from every rank's copy of the model. */
    @Test
    void deepClusterAcrossAnEpochEqualsOneProcess() throws Exception {
        provedEqual("deepcluster", 2, 8);
    }

    private void provedEqual(String method, int n) throws Exception {
        provedEqual(method, n, 3);
    }

    private void provedEqual(String method, int n, int steps) throws Exception {
        DatasetSource source = writeTinyIdx(dir.resolve("data"));
        ImageDataset data = source.open();
        float[][] st = Pretrainer.channelStats(data);
        Path oneDir = dir.resolve("one");
        List<Double> one = DataParallelTest.train(config(method, n, 1, steps, oneDir, 0), data, MethodResources.NONE)
                .losses();

        Path workersDir = dir.resolve("workers");
        Run run = runWorkers(config(method, 1, n, steps, workersDir, 0), source, st, "equal-" + method);
        assertNull(run.failure, method + ": " + run.failure);
        List<Double> many = run.losses;
        assertEquals(steps, many.size(), method + " x" + n + " worker losses: " + many);
        for (int s = 0; s < steps; s++) {
            double a = one.get(s);
            double b = many.get(s);
            assertEquals(a, b, 1e-5 * Math.max(1, Math.abs(a)), method + " x" + n + " loss at step " + s);
        }
        Map<String, float[]> expected = lastCheckpoint(oneDir);
        Map<String, float[]> actual = lastCheckpoint(workersDir);
        assertEquals(expected.keySet(), actual.keySet());
        int changed = 0;
        for (String k : expected.keySet()) {
            assertArrayEquals(expected.get(k), actual.get(k), 2e-5f, method + " x" + n + " " + k);
            changed += k.startsWith("model/") ? 1 : 0;
        }
        assertTrue(changed > 0, "no weights compared");
    }

    @Test
    void aKilledWorkerEndsTheRunAndItResumesExactly() throws Exception {
        DatasetSource source = writeTinyIdx(dir.resolve("data"));
        float[][] st = Pretrainer.channelStats(source.open());
        long steps = 300;
        Path whole = dir.resolve("whole");
        Run uninterrupted = runWorkers(config("simclr", 1, 2, steps, whole, 20), source, st, "whole");
        assertNull(uninterrupted.failure, uninterrupted.failure);

        Path broken = dir.resolve("broken");
        PretrainConfig c = config("simclr", 1, 2, steps, broken, 20);
        Path job = dir.resolve("job-broken.json");
        WorkerJob.of(c, source, st[0], st[1], Rendezvous.folder(dir.resolve("store"), "broken-1"), 60, 30)
                .write(job);
        try (LocalWorkers w = LocalWorkers.start(job, 0, 2, 1, dir.resolve("logs-broken"))) {
            Path rank0 = dir.resolve("logs-broken").resolve("worker-0.log");
            awaitStep(w, rank0, 60);
            long killedAt = System.nanoTime();
            w.processes().get(1).destroyForcibly();
            assertTrue(
                    w.processes().get(0).waitFor(60, java.util.concurrent.TimeUnit.SECONDS),
                    "rank 0 still runs 60 s after rank 1 was killed");
            double seconds = (System.nanoTime() - killedAt) / 1e9;
            assertEquals(WorkerMain.PEER_LOST, w.processes().get(0).exitValue(), "rank 0's exit status");
            assertFalse(w.failedByItself(), "a killed worker and a lost peer are not failures of their own");
            assertTrue(lastStep(rank0) < steps, "the run finished before the kill took effect");
            System.out.printf("rank 0 ended %.2f s after rank 1 was killed at step %d%n", seconds, lastStep(rank0));
        }
        long saved = new CheckpointStore(broken, 100)
                .latestUsable()
                .orElseThrow()
                .contents()
                .header()
                .length();
        assertTrue(saved > 0);
        // A new attempt (its own keys in the store) resumes from rank 0's last checkpoint.
        Run resumed = runWorkers(c, source, st, "broken-2");
        assertNull(resumed.failure, resumed.failure);
        assertTrue(resumed.losses.size() < steps, "the second attempt started from step 0");
        Map<String, float[]> expected = lastCheckpoint(whole);
        Map<String, float[]> actual = lastCheckpoint(broken);
        for (String k : expected.keySet()) {
            assertArrayEquals(expected.get(k), actual.get(k), 0f, "after the resume: " + k);
        }
    }

    @Test
    void aWorkerThatFailsByItselfIsToldFromALostOne() throws Exception {
        try (LocalWorkers w = LocalWorkers.start(dir.resolve("no-such-job.json"), 1, 2, 1, dir.resolve("logs-none"))) {
            assertTrue(w.awaitEnd(60), "a worker without its job still runs after 60 s");
            assertEquals(2, w.processes().get(0).exitValue(), "a wrong job's exit status");
            assertTrue(w.failedByItself());
            assertEquals("worker 1 exited with status 2", w.failureSummary());
            assertTrue(w.failure().contains("no such file"), w.failure());
        }
    }

    @Test
    void aHungWorkerEndsTheRunWithinTheTimeout() throws Exception {
        DatasetSource source = writeTinyIdx(dir.resolve("data"));
        float[][] st = Pretrainer.channelStats(source.open());
        PretrainConfig c = config("simclr", 1, 2, 100_000, dir.resolve("hung"), 0);
        Path job = dir.resolve("job-hung.json");
        int timeout = 4;
        WorkerJob.of(c, source, st[0], st[1], Rendezvous.folder(dir.resolve("store"), "hung"), 60, timeout)
                .write(job);
        try (LocalWorkers w = LocalWorkers.start(job, 0, 2, 1, dir.resolve("logs-hung"))) {
            Path rank0 = dir.resolve("logs-hung").resolve("worker-0.log");
            awaitStep(w, rank0, 5);
            // SIGSTOP: the process and its sockets stay, it just never answers again.
            long pid = w.processes().get(1).pid();
            assertEquals(
                    0,
                    new ProcessBuilder("kill", "-STOP", Long.toString(pid))
                            .start()
                            .waitFor());
            long stoppedAt = System.nanoTime();
            assertTrue(
                    w.processes().get(0).waitFor(timeout + 30, java.util.concurrent.TimeUnit.SECONDS),
                    "rank 0 still runs " + (timeout + 30) + " s after rank 1 stopped answering");
            double seconds = (System.nanoTime() - stoppedAt) / 1e9;
            assertEquals(WorkerMain.PEER_LOST, w.processes().get(0).exitValue(), "rank 0's exit status");
            assertTrue(seconds >= timeout - 1, "rank 0 gave up before its timeout: " + seconds + " s");
            String log = Files.readString(rank0);
            assertTrue(log.contains("Timed out"), log);
            assertFalse(log.contains(".cc:"), "the engine's source file is left out of the message: " + log);
            System.out.printf("rank 0 ended %.2f s after rank 1 stopped answering (timeout %d s)%n", seconds, timeout);
        }
    }

    /** The workers' outcome: rank 0's loss at each step of this attempt, and why a worker failed (null if none). */
    record Run(List<Double> losses, String failure) {}

    private Run runWorkers(PretrainConfig c, DatasetSource source, float[][] st, String attempt) throws Exception {
        Path job = dir.resolve("job-" + attempt + ".json");
        WorkerJob.of(c, source, st[0], st[1], Rendezvous.folder(dir.resolve("store"), attempt), 60, 30)
                .write(job);
        Path logs = dir.resolve("logs-" + attempt);
        try (LocalWorkers w = LocalWorkers.start(job, 0, c.workers(), 1, logs)) {
            assertTrue(w.awaitEnd(240), "the workers did not end within 240 s");
            List<Double> losses = new ArrayList<>();
            for (String line : Files.readAllLines(logs.resolve("worker-0.log"))) {
                if (line.startsWith("{") && line.contains("\"loss\"")) {
                    losses.add(Json.MAPPER.readTree(line).path("loss").asDouble());
                }
            }
            String failure = w.failure();
            if (failure != null) {
                for (int r = 0; r < c.workers(); r++) {
                    List<String> lines = Files.readAllLines(logs.resolve("worker-" + r + ".log"));
                    failure += "\n--- worker " + r + ", last lines:\n"
                            + String.join("\n", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
                }
            }
            return new Run(losses, failure);
        }
    }

    /** Waits until rank 0 reports step {@code step}, failing if a worker fails first or 120 s pass. */
    private static void awaitStep(LocalWorkers w, Path rank0, long step) throws Exception {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (lastStep(rank0) < step) {
            assertTrue(System.nanoTime() < deadline, "the workers did not reach step " + step + ": " + w.failure());
            assertNull(w.failure(), "a worker failed before step " + step);
            Thread.sleep(20);
        }
    }

    private static long lastStep(Path log) throws IOException {
        if (!Files.exists(log)) {
            return -1;
        }
        long step = -1;
        for (String line : Files.readAllLines(log)) {
            if (line.startsWith("{") && line.contains("\"step\"")) {
                JsonNode n = Json.MAPPER.readTree(line);
                step = n.path("step").asLong(step);
            }
        }
        return step;
    }

    /** Every tensor of the newest checkpoint in {@code ckpt} (weights, method state, optimizer state), as floats. */
    private static Map<String, float[]> lastCheckpoint(Path ckpt) throws IOException {
        TensorArchive.Contents c =
                new CheckpointStore(ckpt, 100).latestUsable().orElseThrow().contents();
        Map<String, float[]> out = new TreeMap<>();
        c.tensors().forEach((k, t) -> {
            if (t.dtype().equals("FLOAT32")) {
                ByteBuffer b = ByteBuffer.wrap(t.data()).order(ByteOrder.nativeOrder());
                float[] f = new float[t.data().length / 4];
                b.asFloatBuffer().get(f);
                out.put(k, f);
            }
        });
        return out;
    }

    /** PretrainerTest's 96 tiny images written as an IDX pair, the way worker processes read a dataset. */
    static DatasetSource writeTinyIdx(Path folder) throws IOException {
        ImageDataset tiny = PretrainerTest.tiny();
        Files.createDirectories(folder);
        int n = tiny.size();
        int s = tiny.height();
        ByteBuffer px = ByteBuffer.allocate(n * tiny.imageBytes());
        int[] all = new int[n];
        for (int i = 0; i < n; i++) {
            all[i] = i;
        }
        tiny.copyImages(all, 0, n, px);
        try (OutputStream f = Files.newOutputStream(folder.resolve("train-images-idx3-ubyte"));
                DataOutputStream d = new DataOutputStream(f)) {
            d.writeInt(0x0803);
            d.writeInt(n);
            d.writeInt(s);
            d.writeInt(s);
            d.write(px.array(), 0, n * s * s);
        }
        try (OutputStream f = Files.newOutputStream(folder.resolve("train-labels-idx1-ubyte"));
                DataOutputStream d = new DataOutputStream(f)) {
            d.writeInt(0x0801);
            d.writeInt(n);
            d.write(new byte[n]);
        }
        return new DatasetSource(folder, DatasetLoader.Format.IDX, "train", 1, s, 0, ReadOptions.DEFAULT);
    }
}
