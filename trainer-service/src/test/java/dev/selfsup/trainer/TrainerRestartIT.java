package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DevicePreference;
import dev.selfsup.proto.v1.GetRunRequest;
import dev.selfsup.proto.v1.ResumeRunRequest;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import io.grpc.ManagedChannel;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * Kills the packaged trainer-service with SIGKILL in the middle of a run, starts it again, and resumes: the run
 * comes back INTERRUPTED, continues from its last checkpoint (not from 0) and finishes.
 */
class TrainerRestartIT {
    @Test
    void killedRunResumesFromLastCheckpoint() throws Exception {
        Path jar = Path.of("target/quarkus-app/quarkus-run.jar");
        assertTrue(Files.isRegularFile(jar), "package the service first (mvn verify)");
        Path root = Files.createTempDirectory("selfsup-it-data");
        Path var = Files.createTempDirectory("selfsup-it-var");
        TinyDataResource.write(Files.createDirectories(root.resolve("tiny")), "train", 256, 1);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process p = start(jar, port, root, var);
        // Health answers without a token; the rest needs the token the service made on its first start.
        ManagedChannel anonymous = ClientSecurity.none().open("localhost:" + port);
        ManagedChannel ch = null;
        ClientSecurity operator;
        String id;
        long checkpointBeforeKill;
        try {
            awaitUp(anonymous);
            operator = tokensMadeAtStart(var);
            ch = operator.open("localhost:" + port);
            var trainer = TrainerServiceGrpc.newBlockingStub(ch);
            assertListensOnLoopbackOnly(port);
            Run run = trainer.startRun(RunSpec.newBuilder()
                    .setName("restart")
                    .setDataset(DatasetRef.newBuilder().setPath("tiny"))
                    .setSteps(400)
                    .setBatchSize(32)
                    .setWidth(4)
                    .setProjectionDim(8)
                    .setCheckpointEverySteps(25)
                    .setDevice(DevicePreference.DEVICE_PREFERENCE_CPU)
                    .build());
            id = run.getRunId();
            Run r = poll(trainer, id, x -> x.getCheckpointStep() >= 50);
            assertTrue(r.getStep() < 400, "killed mid-run");
            p.destroyForcibly(); // SIGKILL: no shutdown hook, no final checkpoint
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            checkpointBeforeKill = r.getCheckpointStep();
        } finally {
            anonymous.shutdownNow();
            if (ch != null) {
                ch.shutdownNow();
            }
            p.destroyForcibly();
        }

        Process p2 = start(jar, port, root, var);
        // The same tokens after a restart: the file is read, not made anew.
        ManagedChannel ch2 = operator.open("localhost:" + port);
        try {
            var trainer = awaitUp(ch2);
            Run after = trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build());
            assertEquals(RunState.RUN_STATE_INTERRUPTED, after.getState());
            assertTrue(after.getCheckpointStep() >= checkpointBeforeKill);
            trainer.resumeRun(ResumeRunRequest.newBuilder().setRunId(id).build());
            Run done = poll(
                    trainer,
                    id,
                    x -> x.getState() == RunState.RUN_STATE_SUCCEEDED || x.getState() == RunState.RUN_STATE_FAILED);
            assertEquals(RunState.RUN_STATE_SUCCEEDED, done.getState(), done.getError());
            assertEquals(400, done.getStep());
            assertEquals(
                    after.getCheckpointStep(),
                    done.getResumedFromStep(),
                    "resumed from the last checkpoint: steps before it are not repeated");
        } finally {
            ch2.shutdownNow();
            p2.destroy();
            p2.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** The token file the service made on first start: readable by its owner only, with an operator token. */
    static ClientSecurity tokensMadeAtStart(Path var) throws IOException {
        Path file = var.resolve("auth/tokens");
        assertTrue(Files.isRegularFile(file), "the service made no token file");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        ClientSecurity operator = ClientSecurity.resolve(null, file, null, null, null, Map.of());
        assertTrue(operator.token().startsWith("selfsup-operator-"), "an operator token");
        return operator;
    }

    /** The packaged service, as a user starts it, answers on no address but the loopback one (a secure default). */
    static void assertListensOnLoopbackOnly(int port) throws IOException {
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (a.isLoopbackAddress() || a.isLinkLocalAddress()) {
                    continue;
                }
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(a, port), 2000);
                    fail("the service answers on " + a.getHostAddress() + ":" + port + "; it should listen on "
                            + "127.0.0.1 only unless told otherwise");
                } catch (IOException refused) {
                    // as it should
                }
            }
        }
    }

    /** Starts the packaged service as a user would, with {@code extra} JVM options before {@code -jar}. */
    static Process start(Path jar, int port, Path root, Path var, String... extra) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                System.getProperty("java.home") + "/bin/java",
                "-Dai.djl.offline=true",
                "-Dquarkus.http.port=" + port,
                "-Dselfsup.data-root=" + root,
                "-Dselfsup.var-dir=" + var,
                "-Dselfsup.device=cpu",
                "-Dselfsup.auth.token-file=" + var.resolve("auth/tokens")));
        cmd.addAll(List.of(extra));
        cmd.addAll(List.of("-jar", jar.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(new File("target/restart-it-" + port + "-" + System.nanoTime() + ".log"));
        pb.environment().put("DJL_OFFLINE", "true");
        return pb.start();
    }

    static TrainerServiceGrpc.TrainerServiceBlockingStub awaitUp(ManagedChannel ch) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (true) {
            try {
                HealthGrpc.newBlockingStub(ch)
                        .withDeadlineAfter(2, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.getDefaultInstance());
                return TrainerServiceGrpc.newBlockingStub(ch);
            } catch (RuntimeException e) {
                assertTrue(System.currentTimeMillis() < deadline, "service did not come up: " + e);
                Thread.sleep(250);
            }
        }
    }

    static Run poll(TrainerServiceGrpc.TrainerServiceBlockingStub t, String id, Predicate<Run> until) throws Exception {
        long deadline = System.currentTimeMillis() + 300_000;
        while (true) {
            Run r = t.withDeadlineAfter(30, TimeUnit.SECONDS)
                    .getRun(GetRunRequest.newBuilder().setRunId(id).build());
            if (until.test(r)) {
                return r;
            }
            // A run that ended will not change any more: say why at once instead of waiting for the deadline.
            boolean ended = r.getState() == RunState.RUN_STATE_FAILED
                    || r.getState() == RunState.RUN_STATE_CANCELLED
                    || r.getState() == RunState.RUN_STATE_SUCCEEDED;
            assertFalse(ended, "the run ended " + r.getState() + " at step " + r.getStep() + ": " + r.getError());
            assertTrue(
                    System.currentTimeMillis() < deadline, "timed out; run is " + r.getState() + " at " + r.getStep());
            Thread.sleep(50);
        }
    }
}
