package dev.selfsup.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.client.TokenFile;
import dev.selfsup.core.data.FashionMnist;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.numerics.CpuInfo;
import dev.selfsup.proto.Roles;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.ModelInfo;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.awt.image.BufferedImage;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The Spark bulk-embedding job against EmbedStream through the packaged encoder-service, on the same PNG files and
 * the same encoder bundle: rounds that alternate the two (so both see the same machine), each image's vector from
 * the job compared with the service's, and one JSON line with both rates, the job's peak RSS and the largest
 * difference. The job runs in its own JVM in Spark's local mode, from spark-embed's build (target/lib, target/spark).
 */
@Command(name = "spark-embed-bench", mixinStandardHelpOptions = true)
public final class SparkEmbedBench implements Callable<Integer> {
    @Option(
            names = "--images",
            defaultValue = "10000",
            description = "Fashion-MNIST training images as PNG files (${DEFAULT-VALUE})")
    int images;

    @Option(
            names = "--rounds",
            defaultValue = "2",
            description = "service then job, this many times (${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--master", defaultValue = "local[2]", description = "the job's Spark master (${DEFAULT-VALUE})")
    String master;

    @Option(names = "--partitions", defaultValue = "4", description = "the job's partitions (${DEFAULT-VALUE})")
    int partitions;

    @Option(
            names = "--request-images",
            defaultValue = "256",
            description = "images per EmbedStream request (${DEFAULT-VALUE})")
    int requestImages;

    @Option(
            names = "--format",
            defaultValue = "json",
            description = "the job's output: json (the vectors are compared) or parquet (its default; rates only)")
    String format;

    @Option(
            names = "--bundle",
            description = "encoder bundle (default: a random-init small ConvNet, width 32, 1x28x28)")
    Path bundle;

    @Option(names = "--data-dir", description = "Fashion-MNIST's IDX files (default: Debian's)")
    Path dataDir = FashionMnist.DEFAULT_DIR;

    @Option(names = "--jar", defaultValue = "encoder-service/target/quarkus-app/quarkus-run.jar")
    Path jar;

    @Option(names = "--spark-embed", defaultValue = "spark-embed/target", description = "spark-embed's build folder")
    Path sparkEmbed;

    public static void main(String[] args) {
        System.exit(new CommandLine(new SparkEmbedBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Path dir = Files.createTempDirectory("selfsup-spark-bench");
        Path folder = dir.resolve("images");
        Map<String, byte[]> files = writeImages(folder);
        Path bundleFile = dir.resolve("bench.bundle");
        Files.write(bundleFile, bundle != null ? Files.readAllBytes(bundle) : EncoderLoadBench.randomBundle());

        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String token = TokenFile.newToken(Roles.OPERATOR);
        List<String> options = List.of(
                "-Xmx2g",
                "-Dquarkus.http.port=" + port,
                "-Dselfsup.encoder.model-dir=" + dir.resolve("models"),
                "-Dselfsup.device=cpu",
                "-Dselfsup.auth.operator-tokens=" + token);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("cpu", CpuInfo.current().describe());
        result.put("images", images);
        List<Double> serviceRates = new ArrayList<>();
        List<Double> jobRates = new ArrayList<>();
        List<Double> jobWallRates = new ArrayList<>();
        long jobPeakRss = 0;
        long serviceRss = 0;
        Map<String, float[]> fromService = null;
        Map<String, float[]> fromJob = null;
        try (ServiceProcess service = ServiceProcess.start(jar, options, Map.of(), dir.resolve("service.log"))) {
            ManagedChannel ch =
                    ClientSecurity.token(token).channel("localhost:" + port).build();
            try {
                service.awaitServing(ch);
                ModelInfo info = EncoderLoadBench.publish(ch, Files.readAllBytes(bundleFile));
                embedStream(ch, info, files, List.copyOf(files.keySet()).subList(0, Math.min(512, files.size())));
                for (int r = 0; r < rounds; r++) {
                    long t0 = System.nanoTime();
                    fromService = embedStream(ch, info, files, List.copyOf(files.keySet()));
                    double s = (System.nanoTime() - t0) / 1e9;
                    serviceRates.add(files.size() / s);
                    serviceRss = Math.max(serviceRss, service.rssBytes());

                    Path out = dir.resolve("job-" + r);
                    long j0 = System.nanoTime();
                    Job job = runJob(folder, bundleFile, out, dir.resolve("job-" + r + ".log"));
                    double wall = (System.nanoTime() - j0) / 1e9;
                    jobRates.add(job.summary().get("images_per_second").asDouble());
                    jobWallRates.add(files.size() / wall);
                    jobPeakRss = Math.max(jobPeakRss, job.peakRss());
                    fromJob = "json".equals(format) ? readJson(out.resolve("embeddings")) : null;
                    System.out.printf(
                            "round %d: EmbedStream %.0f images/s | Spark job %.0f images/s (%.0f with its JVM and"
                                    + " Spark's start), peak RSS %d MB%n",
                            r + 1, serviceRates.get(r), jobRates.get(r), jobWallRates.get(r), job.peakRss() >> 20);
                }
            } finally {
                ch.shutdownNow();
            }
        }
        double worst = 0;
        int missing = 0;
        for (var e : fromJob == null ? Map.<String, float[]>of().entrySet() : fromService.entrySet()) {
            float[] v = fromJob.get(e.getKey());
            if (v == null) {
                missing++;
                continue;
            }
            for (int i = 0; i < v.length; i++) {
                worst = Math.max(worst, Math.abs(v[i] - e.getValue()[i]));
            }
        }
        result.put(
                "embedstream_images_per_second",
                serviceRates.stream().map(Math::round).toList());
        result.put(
                "spark_job_images_per_second",
                jobRates.stream().map(Math::round).toList());
        result.put(
                "spark_job_with_start_images_per_second",
                jobWallRates.stream().map(Math::round).toList());
        result.put("spark_job_peak_rss_mb", jobPeakRss >> 20);
        result.put("service_rss_mb", serviceRss >> 20);
        result.put("output_format", format);
        if (fromJob != null) {
            result.put("job_rows", fromJob.size());
            result.put("missing_from_job", missing);
            result.put("max_abs_difference", worst);
        }
        result.put("spark_master", master);
        System.out.println(Json.write(result));
        return fromJob == null || (missing == 0 && fromJob.size() == files.size() && worst <= 1e-5) ? 0 : 1;
    }

    /** The first {@link #images} training images as PNG files, by name. */
    private Map<String, byte[]> writeImages(Path folder) throws Exception {
        ImageDataset test = FashionMnist.train(dataDir);
        Files.createDirectories(folder);
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (int i = 0; i < Math.min(images, test.size()); i++) {
            BufferedImage img = new BufferedImage(test.width(), test.height(), BufferedImage.TYPE_BYTE_GRAY);
            img.getRaster().setDataElements(0, 0, test.width(), test.height(), test.image(i));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(img, "png", out);
            String name = String.format("train-%05d.png", i);
            Files.write(folder.resolve(name), out.toByteArray());
            files.put(name, out.toByteArray());
        }
        return files;
    }

    /** Every named file through one EmbedStream call, at most four requests in flight: the vectors by name. */
    private Map<String, float[]> embedStream(
            ManagedChannel ch, ModelInfo info, Map<String, byte[]> files, List<String> names) throws Exception {
        Map<String, float[]> out = new HashMap<>();
        Semaphore window = new Semaphore(4);
        CompletableFuture<Void> done = new CompletableFuture<>();
        StreamObserver<EmbedRequest> requests = EncoderServiceGrpc.newStub(ch).embedStream(new StreamObserver<>() {
            @Override
            public void onNext(EmbedResponse r) {
                int from = Integer.parseInt(r.getRequestId());
                synchronized (out) {
                    for (int i = 0; i < r.getEmbeddingsCount(); i++) {
                        List<Float> v = r.getEmbeddings(i).getValuesList();
                        float[] a = new float[v.size()];
                        for (int k = 0; k < a.length; k++) {
                            a[k] = v.get(k);
                        }
                        out.put(names.get(from + i), a);
                    }
                }
                window.release();
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
                window.release(4);
            }

            @Override
            public void onCompleted() {
                done.complete(null);
            }
        });
        for (int from = 0; from < names.size(); from += requestImages) {
            window.acquire();
            if (done.isCompletedExceptionally()) {
                break;
            }
            EmbedRequest.Builder b =
                    EmbedRequest.newBuilder().setModel(info.getName()).setRequestId(Integer.toString(from));
            for (String name : names.subList(from, Math.min(names.size(), from + requestImages))) {
                b.addImages(Image.newBuilder().setEncoded(ByteString.copyFrom(files.get(name))));
            }
            requests.onNext(b.build());
        }
        requests.onCompleted();
        done.get(10, TimeUnit.MINUTES);
        return out;
    }

    /** What the job printed, and its peak RSS as sampled while it ran. */
    record Job(JsonNode summary, long peakRss) {}

    private Job runJob(Path folder, Path bundleFile, Path out, Path log) throws Exception {
        String cp = sparkEmbed.resolve("classes") + File.pathSeparator + sparkEmbed.resolve("lib") + "/*"
                + File.pathSeparator + sparkEmbed.resolve("spark") + "/*";
        List<String> command = new ArrayList<>(List.of(System.getProperty("java.home") + "/bin/java", "-Xmx4g"));
        command.addAll(SPARK_JAVA_OPTIONS);
        command.addAll(List.of(
                "-Dai.djl.offline=true",
                "-cp",
                cp,
                "dev.selfsup.spark.BulkEmbed",
                "--master",
                master,
                "--input",
                folder.toString(),
                "--bundle",
                bundleFile.toString(),
                "--output",
                out.toString(),
                "--format",
                format,
                "--partitions",
                Integer.toString(partitions)));
        ProcessBuilder pb = new ProcessBuilder(command).redirectError(log.toFile());
        pb.environment().put("DJL_OFFLINE", "true");
        pb.environment().put("MALLOC_ARENA_MAX", "1");
        Process p = pb.start();
        long peak = 0;
        StringBuilder stdout = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = p.inputReader()) {
                r.lines().forEach(l -> stdout.append(l).append('\n'));
            } catch (Exception e) {
                // the process ended
            }
        });
        reader.start();
        while (!p.waitFor(200, TimeUnit.MILLISECONDS)) {
            peak = Math.max(peak, ProcessMemory.peakRssBytes(p.pid()));
        }
        reader.join();
        if (p.exitValue() != 0) {
            throw new IllegalStateException("the Spark job failed (exit " + p.exitValue() + "); see " + log);
        }
        String[] lines = stdout.toString().trim().split("\n");
        return new Job(new ObjectMapper().readTree(lines[lines.length - 1]), peak);
    }

    /** The job's vectors by file name, from its JSON output. */
    private static Map<String, float[]> readJson(Path folder) throws Exception {
        Map<String, float[]> out = new HashMap<>();
        ObjectMapper mapper = new ObjectMapper();
        try (Stream<Path> parts = Files.list(folder)) {
            for (Path part : parts.filter(f -> f.getFileName().toString().startsWith("part-"))
                    .toList()) {
                for (String line : Files.readAllLines(part)) {
                    JsonNode row = mapper.readTree(line);
                    String id = row.get("id").asText();
                    JsonNode v = row.get("vector");
                    float[] a = new float[v.size()];
                    for (int i = 0; i < a.length; i++) {
                        a[i] = (float) v.get(i).asDouble();
                    }
                    if (out.put(id.substring(id.lastIndexOf('/') + 1), a) != null) {
                        throw new IllegalStateException(id + " was written twice");
                    }
                }
            }
        }
        return out;
    }

    /** What Spark needs opened on Java 17, as its launcher passes. */
    static final List<String> SPARK_JAVA_OPTIONS = List.of(
            "-XX:+IgnoreUnrecognizedVMOptions",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.net=ALL-UNNAMED",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
            "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
            "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
            "-Djdk.reflect.useDirectMethodHandle=false");
}
