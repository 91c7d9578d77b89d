package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.selfsup.core.parallel.GlooCollective;
import dev.selfsup.proto.v1.BatchNorm;
import dev.selfsup.proto.v1.GetRunRequest;
import dev.selfsup.proto.v1.ResumeRunRequest;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Runs trained by worker processes through the trainer-service, on a real channel: the service starts the workers
 * on its host and trains as rank 0; two workers train as one process with two per-device replicas; a killed worker
 * ends the run INTERRUPTED within seconds, and ResumeRun finishes it with the loss of a run that was never
 * interrupted.
 */
@QuarkusTest
@QuarkusTestResource(TinyDataResource.class)
@QuarkusTestResource(FakeEncoderService.class)
@QuarkusTestResource(FakeTokenizerService.class)
class WorkerRunsTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    ManagedChannel channel;
    TrainerServiceGrpc.TrainerServiceBlockingStub trainer;

    @BeforeEach
    void connect() {
        assumeTrue(GlooCollective.available(), () -> "no Gloo here: " + GlooCollective.unavailableReason());
        channel = Grpc.newChannelBuilderForAddress("localhost", port, TrainerServiceTest.OPERATOR.channelCredentials())
                .build();
        trainer = TrainerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.MINUTES);
    }

    @AfterEach
    void close() {
        if (channel != null) {
            channel.shutdownNow();
        }
    }

    private TrainerServiceTest.Watcher watch(String id) {
        TrainerServiceTest.Watcher w = new TrainerServiceTest.Watcher();
        TrainerServiceGrpc.newStub(channel)
                .watchRun(
                        dev.selfsup.proto.v1.WatchRunRequest.newBuilder()
                                .setRunId(id)
                                .build(),
                        w);
        return w;
    }

    private Run finish(String id) throws InterruptedException {
        TrainerServiceTest.Watcher w = watch(id);
        assertTrue(w.done.await(240, TimeUnit.SECONDS), "run " + id + " did not end");
        return trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build());
    }

    @Test
    void twoWorkersTrainAsOneProcessWithTwoReplicas() throws Exception {
        Run one = finish(trainer.startRun(TrainerServiceTest.tinySpec(6)
                        .setName("replicas")
                        .setReplicas(2)
                        .setBatchNorm(BatchNorm.BATCH_NORM_PER_DEVICE)
                        .build())
                .getRunId());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, one.getState(), one.getError());
        Run started = trainer.startRun(
                TrainerServiceTest.tinySpec(6).setName("workers").setWorkers(2).build());
        assertEquals(2, started.getSpec().getWorkers());
        assertEquals(BatchNorm.BATCH_NORM_PER_DEVICE, started.getSpec().getBatchNorm(), "per worker by default");
        TrainerServiceTest.Watcher w = watch(started.getRunId());
        assertTrue(w.done.await(240, TimeUnit.SECONDS));
        Run many = trainer.getRun(
                GetRunRequest.newBuilder().setRunId(started.getRunId()).build());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, many.getState(), many.getError());
        assertEquals("2 workers on cpu()", many.getDevice());
        assertEquals(one.getLoss(), many.getLoss(), 1e-5 * Math.max(1, Math.abs(one.getLoss())), "final loss");
        List<RunEvent> progress =
                w.events.stream().filter(RunEvent::hasProgress).toList();
        assertTrue(!progress.isEmpty(), "no progress events");
        var metrics = progress.get(progress.size() - 1).getProgress().getMethodMetricsMap();
        assertTrue(metrics.get("worker_step_seconds_slowest") > 0, metrics.toString());
        assertTrue(metrics.get("worker_collective_mb_per_step") > 0, metrics.toString());
        String scraped = dev.selfsup.core.testing.TestHttp.get("http://localhost:" + port + "/q/metrics")
                .body();
        for (String gauge : List.of(
                "selfsup_training_workers_step_seconds_slowest",
                "selfsup_training_workers_collective_share",
                "selfsup_training_workers_collective_bytes_per_step")) {
            assertTrue(
                    scraped.lines()
                            .anyMatch(l ->
                                    l.startsWith(gauge + "{") && l.contains(started.getRunId()) && !l.endsWith(" NaN")),
                    gauge + " for run " + started.getRunId());
        }
    }

    @Test
    void aKilledWorkerInterruptsTheRunAndResumeFinishesItExactly() throws Exception {
        long steps = 400;
        Run whole = finish(trainer.startRun(TrainerServiceTest.tinySpec(steps)
                        .setName("whole")
                        .setWorkers(2)
                        .setCheckpointEverySteps(20)
                        .build())
                .getRunId());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, whole.getState(), whole.getError());

        String id = trainer.startRun(TrainerServiceTest.tinySpec(steps)
                        .setName("killed")
                        .setWorkers(2)
                        .setCheckpointEverySteps(20)
                        .build())
                .getRunId();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        Run r;
        do {
            assertTrue(System.nanoTime() < deadline, "the run did not reach step 40");
            Thread.sleep(50);
            r = trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build());
        } while (r.getCheckpointStep() < 40 && r.getState() != RunState.RUN_STATE_SUCCEEDED);
        List<ProcessHandle> workers = ProcessHandle.current()
                .children()
                // A worker's command line is longer than the kernel shows (its class path), so: the Java children.
                .filter(p -> p.info().command().orElse("").endsWith("/java"))
                .toList();
        String seen = "at step " + r.getStep() + ", " + r.getState() + "; children: "
                + ProcessHandle.current()
                        .children()
                        .map(p -> p.info().commandLine().orElse("?"))
                        .toList();
        assertEquals(1, workers.size(), "one worker process besides the service " + seen);
        long killedAt = System.nanoTime();
        workers.get(0).destroyForcibly();
        do {
            assertTrue(System.nanoTime() - killedAt < TimeUnit.SECONDS.toNanos(60), "no end 60 s after the kill");
            Thread.sleep(50);
            r = trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build());
        } while (r.getState() == RunState.RUN_STATE_RUNNING);
        System.out.printf(
                "the run ended %s %.2f s after its worker was killed at step %d%n",
                r.getState(), (System.nanoTime() - killedAt) / 1e9, r.getStep());
        assertEquals(RunState.RUN_STATE_INTERRUPTED, r.getState(), r.getError());
        assertTrue(
                r.getError().contains("worker 1 exited") || r.getError().contains("closed its connection"),
                r.getError());
        assertTrue(r.getError().contains("ResumeRun"), r.getError());

        trainer.resumeRun(ResumeRunRequest.newBuilder().setRunId(id).build());
        Run resumed = finish(id);
        assertEquals(RunState.RUN_STATE_SUCCEEDED, resumed.getState(), resumed.getError());
        assertTrue(resumed.getResumedFromStep() >= 40, "resumed from step " + resumed.getResumedFromStep());
        assertEquals(whole.getLoss(), resumed.getLoss(), 0.0, "the resumed run's last loss");
        TrainerServiceTest.assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "workers: jigsaw trains in one process only",
                () -> trainer.startRun(TrainerServiceTest.tinySpec(6)
                        .setMethod(dev.selfsup.proto.v1.Method.METHOD_JIGSAW)
                        .setWorkers(2)
                        .build()));
        TrainerServiceTest.assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "workers: 8 is over this service's limit of 4",
                () -> trainer.startRun(
                        TrainerServiceTest.tinySpec(6).setWorkers(8).build()));
    }
}
