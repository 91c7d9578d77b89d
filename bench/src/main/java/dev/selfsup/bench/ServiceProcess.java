package dev.selfsup.bench;

import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A packaged service started by a benchmark as its own process: offline, with the malloc settings of
 * {@code deploy/jvm-env.sh} (they matter as much for serving as for training), its output in a log file.
 */
final class ServiceProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private ServiceProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * @param jvmOptions options before {@code -jar}, e.g. {@code -Xmx4g} and {@code -Dkey=value}
     * @param env extra environment variables
     */
    static ServiceProcess start(Path jar, List<String> jvmOptions, Map<String, String> env, Path log)
            throws IOException {
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " not found: build with ./mvnw package -DskipTests");
        }
        List<String> command =
                new ArrayList<>(List.of(System.getProperty("java.home") + "/bin/java", "-Dai.djl.offline=true"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-jar", jar.toString()));
        ProcessBuilder pb =
                new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(new File(log.toString()));
        Map<String, String> e = pb.environment();
        e.put("DJL_OFFLINE", "true");
        e.put("MALLOC_ARENA_MAX", "1");
        e.put("MALLOC_MMAP_THRESHOLD_", "4294967296");
        e.put("MALLOC_TRIM_THRESHOLD_", "68719476736");
        e.put("MALLOC_TOP_PAD_", "1073741824");
        e.putAll(env);
        return new ServiceProcess(pb.start(), log);
    }

    long pid() {
        return process.pid();
    }

    Path log() {
        return log;
    }

    /** Waits until the service answers grpc.health.v1 SERVING, at most two minutes. */
    void awaitServing(ManagedChannel ch) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (true) {
            try {
                HealthGrpc.newBlockingStub(ch)
                        .withDeadlineAfter(2, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.getDefaultInstance());
                return;
            } catch (RuntimeException e) {
                if (System.currentTimeMillis() > deadline || !process.isAlive()) {
                    throw new IllegalStateException("the service did not start; see " + log);
                }
                Thread.sleep(250);
            }
        }
    }

    /** Resident memory now (VmRSS), bytes. */
    long rssBytes() throws IOException {
        return status("VmRSS:");
    }

    /** Peak resident memory so far (VmHWM), bytes. */
    long peakRssBytes() throws IOException {
        return status("VmHWM:");
    }

    private long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid() + "/status"))) {
            if (line.startsWith(field)) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        process.waitFor(30, TimeUnit.SECONDS);
    }
}
