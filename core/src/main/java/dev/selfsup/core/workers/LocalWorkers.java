package dev.selfsup.core.workers;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Starts and watches the worker processes of one run on this host: ranks {@code from} to {@code workers - 1} of a
 * written {@link WorkerJob}, each a JVM running {@link WorkerMain} with the same classes and engine settings as
 * this one, its output in its own log file. Closing it kills those still running.
 */
public final class LocalWorkers implements AutoCloseable {
    private final List<Process> processes;
    private final List<Path> logs;

    private LocalWorkers(List<Process> processes, List<Path> logs) {
        this.processes = processes;
        this.logs = logs;
    }

    /**
     * Starts ranks {@code from .. workers - 1}.
     *
     * @param threads libtorch threads per operation in each worker (0: libtorch's default)
     * @param logDir where each rank's output goes ({@code worker-R.log})
     */
    public static LocalWorkers start(Path job, int from, int workers, int threads, Path logDir) throws IOException {
        Files.createDirectories(logDir);
        List<Process> started = new ArrayList<>();
        List<Path> logs = new ArrayList<>();
        try {
            for (int rank = from; rank < workers; rank++) {
                List<String> cmd = new ArrayList<>(command());
                cmd.addAll(List.of("--job", job.toString(), "--rank", Integer.toString(rank), "--host", "127.0.0.1"));
                if (threads > 0) {
                    cmd.addAll(List.of("--threads", Integer.toString(threads)));
                }
                Path log = logDir.resolve("worker-" + rank + ".log");
                ProcessBuilder pb = new ProcessBuilder(cmd)
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()));
                pb.environment().put("DJL_OFFLINE", "true");
                started.add(pb.start());
                logs.add(log);
            }
        } catch (IOException | RuntimeException e) {
            started.forEach(Process::destroyForcibly);
            throw e;
        }
        return new LocalWorkers(List.copyOf(started), List.copyOf(logs));
    }

    /**
     * The java command with this JVM's memory and engine settings and a class path that holds core and its
     * libraries: the folder of core's jar when it lies among its libraries (a packaged service), else this JVM's
     * class path (tests, a plain {@code java -cp}).
     */
    static List<String> command() {
        String java = ProcessHandle.current()
                .info()
                .command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>();
        cmd.add(java);
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-Xmx")
                    || a.startsWith("-Xss")
                    || a.startsWith("-Dai.djl.")
                    || a.startsWith("-Dselfsup.")
                    || a.startsWith("--add-opens")) {
                cmd.add(a);
            }
        }
        cmd.add("-Dai.djl.offline=true");
        cmd.add("-cp");
        cmd.add(classPath());
        cmd.add(WorkerMain.class.getName());
        return cmd;
    }

    private static String classPath() {
        try {
            Path core = Path.of(WorkerMain.class
                    .getProtectionDomain()
                    .getCodeSource()
                    .getLocation()
                    .toURI());
            Path dir = core.getParent();
            if (Files.isRegularFile(core) && dir != null) {
                try (var files = Files.list(dir)) {
                    if (files.anyMatch(f -> f.getFileName().toString().contains("djl")
                            && f.toString().endsWith(".jar"))) {
                        return dir.resolve("*").toString();
                    }
                }
            }
        } catch (URISyntaxException | IOException | SecurityException | NullPointerException e) {
            // fall back to this JVM's class path
        }
        return System.getProperty("java.class.path");
    }

    /** The ranks' processes, in rank order. */
    public List<Process> processes() {
        return processes;
    }

    /**
     * Why a worker ended badly: "worker R exited with status S: its last line", or null while none has. A worker
     * that ended with status 0 did its part.
     */
    public String failure() {
        int i = failed();
        return i < 0 ? null : exit(i) + lastLine(logs.get(i));
    }

    /** As {@link #failure} without the worker's own words (which may name files): for a run's clients. */
    public String failureSummary() {
        int i = failed();
        return i < 0 ? null : exit(i);
    }

    /**
     * Whether a worker ended by its own failure (status 1 or 2 of {@link WorkerMain}: an error, a wrong job), which a
     * resume would meet again; a lost peer ({@link WorkerMain#PEER_LOST}) or a signal's status (killed) is not.
     */
    public boolean failedByItself() {
        int i = failed();
        return i >= 0 && ownFailure(processes.get(i).exitValue());
    }

    private static boolean ownFailure(int status) {
        return status == 1 || status == 2;
    }

    /** The worker that ended badly, one that failed by itself first (the others then lost it as a peer); -1: none. */
    private int failed() {
        int first = -1;
        for (int i = 0; i < processes.size(); i++) {
            Process p = processes.get(i);
            if (!p.isAlive() && p.exitValue() != 0) {
                if (ownFailure(p.exitValue())) {
                    return i;
                }
                first = first < 0 ? i : first;
            }
        }
        return first;
    }

    private String exit(int i) {
        int status = processes.get(i).exitValue();
        return "worker " + rankOf(i) + " exited with status " + status + (status == 137 ? " (killed)" : "");
    }

    private int rankOf(int index) {
        return Integer.parseInt(logs.get(index).getFileName().toString().replaceAll("\\D", ""));
    }

    private static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            for (int i = lines.size() - 1; i >= 0; i--) {
                String l = lines.get(i).trim();
                if (!l.isEmpty() && !l.startsWith("at ") && !l.startsWith("{")) {
                    return ": " + (l.length() > 300 ? l.substring(0, 300) + "..." : l);
                }
            }
        } catch (IOException e) {
            // no log to quote
        }
        return "";
    }

    /** Waits up to {@code seconds} for every worker to end; whether they all did. */
    public boolean awaitEnd(long seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (Process p : processes) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !p.waitFor(left, TimeUnit.NANOSECONDS)) {
                return false;
            }
        }
        return true;
    }

    /** Kills the workers still running and waits for them. */
    @Override
    public void close() {
        for (Process p : processes) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Process p : processes) {
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
