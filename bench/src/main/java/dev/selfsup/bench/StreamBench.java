package dev.selfsup.bench;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.client.TokenFile;
import dev.selfsup.core.data.ImageFolderReader;
import dev.selfsup.core.io.Json;
import dev.selfsup.proto.Roles;
import dev.selfsup.proto.v1.Backbone;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DevicePreference;
import dev.selfsup.proto.v1.GetRunRequest;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import io.grpc.ManagedChannel;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Trains on an image folder through the trainer-service, as a user would, and watches its memory: the service's RSS
 * sampled every second, its peak (VmHWM), the share of step time spent waiting for data, and, measured in this
 * process before the run, the decode rate per core of selfsup's reader against plain ImageIO.
 */
@Command(
        name = "stream-bench",
        mixinStandardHelpOptions = true,
        description = "Train on an image folder through the trainer-service; print RSS, data wait and decode rates.")
public final class StreamBench implements Callable<Integer> {
    @Option(names = "--data-root", required = true, description = "the trainer's data root")
    Path dataRoot;

    @Option(names = "--dataset", required = true, description = "the image folder, relative to the data root")
    String dataset;

    @Option(names = "--image-size", defaultValue = "224", description = "training side (default ${DEFAULT-VALUE})")
    int imageSize;

    @Option(names = "--steps", defaultValue = "40", description = "training steps (default ${DEFAULT-VALUE})")
    long steps;

    @Option(names = "--batch-size", defaultValue = "16", description = "images per step (default ${DEFAULT-VALUE})")
    int batchSize;

    @Option(
            names = "--backbone",
            defaultValue = "BACKBONE_RESNET18_IMAGENET",
            description = "a Backbone of trainer.proto (default ${DEFAULT-VALUE})")
    Backbone backbone;

    @Option(names = "--method", defaultValue = "METHOD_SIMCLR", description = "default ${DEFAULT-VALUE}")
    Method method;

    @Option(names = "--decode-sample", defaultValue = "400", description = "images per decode round (0: skip)")
    int decodeSample;

    @Option(names = "--heap", defaultValue = "4g", description = "the service's -Xmx (default ${DEFAULT-VALUE})")
    String heap;

    @Option(names = "--jar", defaultValue = "trainer-service/target/quarkus-app/quarkus-run.jar")
    Path jar;

    @Option(names = "--service-opt", description = "extra JVM option for the service (repeatable)")
    List<String> serviceOptions = new ArrayList<>();

    public static void main(String[] args) {
        System.exit(new CommandLine(new StreamBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("dataset", dataset);
        result.put("cpu", dev.selfsup.core.numerics.CpuInfo.current().describe());
        if (decodeSample > 0) {
            result.put("decode", decodeRates());
        }
        result.put("training", train());
        System.out.println(Json.write(result));
        return 0;
    }

    /** Single-thread decode rates, alternating plain ImageIO and selfsup's reader over the same files. */
    private Map<String, Object> decodeRates() throws Exception {
        Path folder = dataRoot.resolve(dataset);
        List<Path> files;
        try (Stream<Path> s = Files.walk(folder)) {
            files = s.filter(p -> p.toString().endsWith(".jpg")).sorted().toList();
        }
        List<Path> sample = new ArrayList<>();
        for (int k = 0; k < Math.min(decodeSample, files.size()); k++) {
            sample.add(files.get((int) ((long) k * files.size() / Math.min(decodeSample, files.size()))));
        }
        byte[] out = new byte[3 * imageSize * imageSize];
        // Warm-up: both paths compiled before anything is timed.
        for (Path p : sample.subList(0, Math.min(50, sample.size()))) {
            plainImageIo(p, out);
            ImageFolderReader.decodeInto(p, 3, imageSize, out, 0);
        }
        List<Double> plain = new ArrayList<>();
        List<Double> ours = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            long t0 = System.nanoTime();
            for (Path p : sample) {
                plainImageIo(p, out);
            }
            plain.add(sample.size() / ((System.nanoTime() - t0) / 1e9));
            t0 = System.nanoTime();
            for (Path p : sample) {
                ImageFolderReader.decodeInto(p, 3, imageSize, out, 0);
            }
            ours.add(sample.size() / ((System.nanoTime() - t0) / 1e9));
        }
        double p = median(plain);
        double o = median(ours);
        System.out.printf(
                Locale.ROOT,
                "decode, one thread, %d files of %s, 3 rounds alternating: ImageIO read + per-pixel getRGB %.0f "
                        + "images/s, selfsup's reader %.0f images/s (x%.2f)%n",
                sample.size(),
                dataset,
                p,
                o,
                o / p);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("images", sample.size());
        r.put("imageio_per_core", Math.round(p));
        r.put("selfsup_per_core", Math.round(o));
        return r;
    }

    /** What reading an image folder cost before: ImageIO.read, a bilinear resize, then getRGB pixel by pixel. */
    private void plainImageIo(Path file, byte[] out) throws Exception {
        BufferedImage img = ImageIO.read(file.toFile());
        BufferedImage rgb = new BufferedImage(imageSize, imageSize, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(img, 0, 0, imageSize, imageSize, null);
        g.dispose();
        int plane = imageSize * imageSize;
        for (int y = 0; y < imageSize; y++) {
            for (int x = 0; x < imageSize; x++) {
                int px = rgb.getRGB(x, y);
                int at = y * imageSize + x;
                out[at] = (byte) (px >> 16);
                out[plane + at] = (byte) (px >> 8);
                out[2 * plane + at] = (byte) px;
            }
        }
    }

    private Map<String, Object> train() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path dir = Files.createTempDirectory("selfsup-stream-bench");
        String token = TokenFile.newToken(Roles.OPERATOR);
        List<String> options = new ArrayList<>(List.of(
                "-Xmx" + heap,
                "-Dquarkus.http.port=" + port,
                "-Dselfsup.data-root=" + dataRoot.toAbsolutePath(),
                "-Dselfsup.var-dir=" + dir.resolve("var"),
                "-Dselfsup.device=cpu",
                "-Dselfsup.trainer.progress-every-steps=1",
                "-Dselfsup.auth.operator-tokens=" + token));
        options.addAll(serviceOptions);
        ServiceProcess service = ServiceProcess.start(jar, options, Map.of(), dir.resolve("service.log"));
        ManagedChannel ch =
                ClientSecurity.token(token).channel("localhost:" + port).build();
        try {
            service.awaitServing(ch);
            long rssIdle = service.rssBytes();
            TrainerServiceGrpc.TrainerServiceBlockingStub trainer = TrainerServiceGrpc.newBlockingStub(ch);
            long t0 = System.nanoTime();
            Run run = trainer.startRun(RunSpec.newBuilder()
                    .setName("stream-bench")
                    .setMethod(method)
                    .setBackbone(backbone)
                    .setDataset(DatasetRef.newBuilder()
                            .setPath(dataset)
                            .setImageSize(imageSize)
                            .setChannels(3))
                    .setSteps(steps)
                    .setBatchSize(batchSize)
                    .setDevice(DevicePreference.DEVICE_PREFERENCE_CPU)
                    .setCheckpointEverySteps(1_000_000)
                    .build());
            System.out.printf(
                    "run %s: %s, %d steps of %d images at %d px, %s; service log %s%n",
                    run.getRunId(), method, steps, batchSize, imageSize, backbone, dir.resolve("service.log"));
            System.out.println("   time s    step   RSS MB   images/s");
            List<long[]> samples = new ArrayList<>();
            long firstStepAt = -1;
            long lastPrinted = -1;
            while (true) {
                Thread.sleep(1000);
                run = trainer.getRun(
                        GetRunRequest.newBuilder().setRunId(run.getRunId()).build());
                long rss = service.rssBytes();
                long sec = (System.nanoTime() - t0) / 1_000_000_000L;
                samples.add(new long[] {sec, run.getStep(), rss});
                if (run.getStep() > 0 && firstStepAt < 0) {
                    firstStepAt = sec;
                }
                if (sec - lastPrinted >= 15 || isDone(run)) {
                    System.out.printf(
                            Locale.ROOT,
                            "%9d %7d %8d %10.1f%n",
                            sec,
                            run.getStep(),
                            rss >> 20,
                            run.getImagesPerSecond());
                    lastPrinted = sec;
                }
                if (isDone(run)) {
                    break;
                }
            }
            if (run.getState() != RunState.RUN_STATE_SUCCEEDED) {
                throw new IllegalStateException("the run ended " + run.getState() + ": " + run.getError());
            }
            Map<String, Double> metrics = EncoderLoadBench.scrape(port);
            double wait = sumOf(metrics, "selfsup_training_data_wait_seconds_sum");
            double stepSeconds = sumOf(metrics, "selfsup_training_step_seconds_sum");
            long peak = service.peakRssBytes();
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("steps", steps);
            r.put("batch_size", batchSize);
            r.put("image_size", imageSize);
            r.put("backbone", backbone.name());
            r.put("images_per_second", run.getImagesPerSecond());
            r.put("data_wait_share", stepSeconds > 0 ? wait / stepSeconds : Double.NaN);
            r.put("rss_idle_mb", rssIdle >> 20);
            r.put("rss_peak_mb", peak >> 20);
            r.put("rss_quartiles_mb", quartiles(samples));
            System.out.printf(
                    Locale.ROOT,
                    "training: %.1f images/s; data wait %.2f%% of step time; RSS idle %d MB, peak (VmHWM) %d MB; RSS at"
                            + " a quarter, half, three quarters and the end of the steps: %s MB%n",
                    run.getImagesPerSecond(),
                    100 * wait / stepSeconds,
                    rssIdle >> 20,
                    peak >> 20,
                    java.util.Arrays.toString((long[]) r.get("rss_quartiles_mb")));
            return r;
        } finally {
            ch.shutdownNow();
            service.close();
        }
    }

    private static boolean isDone(Run run) {
        return switch (run.getState()) {
            case RUN_STATE_SUCCEEDED, RUN_STATE_FAILED, RUN_STATE_CANCELLED, RUN_STATE_INTERRUPTED -> true;
            default -> false;
        };
    }

    /** RSS in MB at the samples nearest 25%, 50%, 75% and 100% of the steps. */
    private long[] quartiles(List<long[]> samples) {
        long[] q = new long[4];
        for (int k = 0; k < 4; k++) {
            long target = steps * (k + 1) / 4;
            for (long[] s : samples) {
                if (s[1] >= target) {
                    q[k] = s[2] >> 20;
                    break;
                }
            }
        }
        return q;
    }

    private static double sumOf(Map<String, Double> metrics, String name) {
        return metrics.entrySet().stream()
                .filter(e -> e.getKey().startsWith(name))
                .mapToDouble(Map.Entry::getValue)
                .sum();
    }

    private static double median(List<Double> v) {
        List<Double> s = v.stream().sorted().toList();
        return s.get(s.size() / 2);
    }
}
