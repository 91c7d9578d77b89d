package dev.selfsup.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import com.google.protobuf.ByteString;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.core.train.GradMode;
import dev.selfsup.proto.ModelUpload;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelManifest;
import dev.selfsup.proto.v1.PixelType;
import dev.selfsup.proto.v1.RawImage;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Load on the encoder-service over loopback gRPC, against the same encoder run in-process in a loop of full
 * batches. Starts the packaged service, publishes the encoder, then runs 1, 8 and 64 concurrent clients (each a
 * thread sending Embed requests one after another) for a fixed time each, and prints images/second and p50/p99
 * latency per level, the service's RSS before and after a long run at the highest level, and one JSON line.
 * The clients share the machine with the service: on 2 cores they take CPU the service would otherwise use.
 */
@Command(name = "encoder-load-bench", mixinStandardHelpOptions = true)
public final class EncoderLoadBench implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--bundle", description = "Encoder bundle to serve (default: a random-init small ConvNet, "
            + "width 32, depth 1, 1x28x28: the trainer's default for Fashion-MNIST)")
    Path bundle;
    @Option(names = "--clients", split = ",", defaultValue = "1,8,64")
    int[] clients;
    @Option(names = "--images-per-request", defaultValue = "1")
    int perRequest;
    @Option(names = "--seconds", defaultValue = "15", description = "Measured seconds per level")
    int seconds;
    @Option(names = "--rss-seconds", defaultValue = "60", description = "Length of the memory run at the last level")
    int rssSeconds;
    @Option(names = "--batch", defaultValue = "64", description = "Full batch for the in-process loop and the "
            + "service's max batch size")
    int batch;
    @Option(names = "--jar", defaultValue = "encoder-service/target/quarkus-app/quarkus-run.jar")
    Path jar;
    @Option(names = "--service-threads", defaultValue = "0", description = "libtorch threads of the service "
            + "(OMP_NUM_THREADS; 0: libtorch's default, one per core)")
    int serviceThreads;
    @Option(names = "--channels", defaultValue = "4", description = "gRPC channels the clients share")
    int channels;

    public static void main(String[] args) {
        System.exit(new CommandLine(new EncoderLoadBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        byte[] bytes = bundle != null ? Files.readAllBytes(bundle) : randomBundle();
        Map<String, Object> result = new LinkedHashMap<>();
        double inProcess = inProcess(bytes);
        System.out.printf("in-process, batches of %d: %.0f images/s%n", batch, inProcess);
        result.put("in_process_images_per_second", Math.round(inProcess));

        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " not found: build with ./mvnw package -DskipTests");
        }
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path dir = Files.createTempDirectory("selfsup-encoder-bench");
        ProcessBuilder pb = new ProcessBuilder(System.getProperty("java.home") + "/bin/java", "-Dai.djl.offline=true",
                "-Xmx2g", "-Dquarkus.http.port=" + port, "-Dselfsup.encoder.model-dir=" + dir.resolve("models"),
                "-Dselfsup.device=cpu", "-Dselfsup.encoder.max-batch-size=" + batch, "-jar", jar.toString())
                .redirectErrorStream(true).redirectOutput(new File(dir.resolve("service.log").toString()));
        // The same malloc settings as deploy/jvm-env.sh: they matter as much for inference as for training.
        Map<String, String> env = pb.environment();
        env.put("DJL_OFFLINE", "true");
        env.put("MALLOC_ARENA_MAX", "1");
        env.put("MALLOC_MMAP_THRESHOLD_", "4294967296");
        env.put("MALLOC_TRIM_THRESHOLD_", "68719476736");
        env.put("MALLOC_TOP_PAD_", "1073741824");
        if (serviceThreads > 0) {
            env.put("OMP_NUM_THREADS", Integer.toString(serviceThreads));
        }
        Process service = pb.start();
        List<ManagedChannel> chans = new ArrayList<>();
        try {
            for (int i = 0; i < channels; i++) {
                chans.add(ManagedChannelBuilder.forAddress("localhost", port).usePlaintext().build());
            }
            waitHealthy(chans.get(0), dir);
            ModelInfo info = publish(chans.get(0), bytes);
            System.out.printf("service: %s v%d, %s, log %s%n", info.getName(), info.getVersion(), info.getBackbone(),
                    dir.resolve("service.log"));
            EmbedRequest request = request(info.getInputChannels(), info.getInputSize());
            load(chans, request, 8, 3); // warm-up
            List<Map<String, Object>> levels = new ArrayList<>();
            System.out.println("clients  images/s  of in-process  p50 ms  p99 ms  requests | server: request ms"
                    + "  queue ms  batch ms  images/batch");
            for (int c : clients) {
                Map<String, Double> m0 = scrape(port);
                Level l = load(chans, request, c, seconds);
                Map<String, Double> m1 = scrape(port);
                System.out.printf("%7d  %8.0f  %12.1f%%  %6.2f  %6.2f  %8d | %10.2f  %8.2f  %8.2f  %12.1f%n", c,
                        l.imagesPerSecond, 100 * l.imagesPerSecond / inProcess, l.p50Ms, l.p99Ms, l.requests,
                        1000 * mean(m0, m1, "selfsup_encoder_request_seconds", "{method=\"Embed\"}"),
                        1000 * mean(m0, m1, "selfsup_encoder_queue_wait_seconds", ""),
                        1000 * mean(m0, m1, "selfsup_encoder_batch_seconds", ""),
                        mean(m0, m1, "selfsup_encoder_batch_size_images", ""));
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("clients", c);
                m.put("images_per_second", Math.round(l.imagesPerSecond));
                m.put("of_in_process", Math.round(1000 * l.imagesPerSecond / inProcess) / 1000.0);
                m.put("p50_ms", l.p50Ms);
                m.put("p99_ms", l.p99Ms);
                levels.add(m);
            }
            result.put("levels", levels);
            if (rssSeconds > 0) {
                int c = clients[clients.length - 1];
                long before = rss(service.pid());
                Level l = load(chans, request, c, rssSeconds);
                long after = rss(service.pid());
                System.out.printf("memory: service RSS %d MB before, %d MB after %d s at %d clients (%.0f images/s)%n",
                        before >> 20, after >> 20, rssSeconds, c, l.imagesPerSecond);
                result.put("rss_before_mb", before >> 20);
                result.put("rss_after_mb", after >> 20);
            }
            // Again with the service idle, to see how much the machine drifted during the run.
            double again = inProcess(bytes);
            System.out.printf("in-process again (service idle): %.0f images/s%n", again);
            result.put("in_process_again_images_per_second", Math.round(again));
        } finally {
            chans.forEach(ManagedChannel::shutdownNow);
            service.destroy();
            service.waitFor(30, TimeUnit.SECONDS);
        }
        result.put("images_per_request", perRequest);
        System.out.println(Json.write(result));
        return 0;
    }

    /** The default bundle: the trainer's default encoder for Fashion-MNIST, randomly initialised. */
    static byte[] randomBundle() throws Exception {
        BackboneSpec spec = new BackboneSpec(BackboneSpec.SMALL_CONVNET, 32, 1, 1, 28, new float[] {0.286f},
                new float[] {0.353f});
        Engine.getInstance().setRandomSeed(7);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Block b = Backbones.build(spec);
            b.initialize(m, DataType.FLOAT32, new Shape(1, 1, 28, 28));
            return EncoderBundle.toBytes(b, spec, null);
        }
    }

    /** Full batches through the encoder in one loop, as a program using core directly would run it. */
    double inProcess(byte[] bytes) throws Exception {
        GradMode.disableOnThisThread();
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            EncoderBundle.Loaded l = EncoderBundle.read(new ByteArrayInputStream(bytes), "bench", m);
            BackboneSpec s = l.header().backbone();
            float[] x = new float[batch * s.channels() * s.imageSize() * s.imageSize()];
            Random r = new Random(1);
            for (int i = 0; i < x.length; i++) {
                x[i] = r.nextInt(256) / 255f;
            }
            Shape shape = new Shape(batch, s.channels(), s.imageSize(), s.imageSize());
            long images = 0;
            long t0 = 0;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds + 2);
            for (int i = 0; System.nanoTime() < end; i++) {
                if (i == 5) { // after warm-up
                    t0 = System.nanoTime();
                    images = 0;
                }
                try (NDManager b = m.newSubManager()) {
                    NDArray h = EncoderBundle.embed(l.encoder(), b.create(x, shape));
                    h.toFloatArray();
                }
                images += batch;
            }
            return images / ((System.nanoTime() - t0) / 1e9);
        }
    }

    EmbedRequest request(int c, int size) {
        byte[] px = new byte[c * size * size];
        new Random(3).nextBytes(px);
        EmbedRequest.Builder b = EmbedRequest.newBuilder().setModel("bench");
        for (int i = 0; i < perRequest; i++) {
            b.addImages(Image.newBuilder().setRaw(RawImage.newBuilder().setHeight(size).setWidth(size).setChannels(c)
                    .setType(PixelType.PIXEL_TYPE_UINT8).setData(ByteString.copyFrom(px))));
        }
        return b.build();
    }

    record Level(double imagesPerSecond, double p50Ms, double p99Ms, long requests) {}

    /** {@code n} clients, each sending one request after another for {@code secs} seconds. */
    Level load(List<ManagedChannel> chans, EmbedRequest request, int n, int secs) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        List<long[]> latencies = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        long[] counts = new long[n];
        long[][] lat = new long[n][];
        for (int i = 0; i < n; i++) {
            int me = i;
            Thread t = new Thread(() -> {
                var stub = EncoderServiceGrpc.newBlockingStub(chans.get(me % chans.size()));
                long[] mine = new long[1 << 16];
                int k = 0;
                while (!stop.get()) {
                    long s = System.nanoTime();
                    stub.withDeadlineAfter(60, TimeUnit.SECONDS).embed(request);
                    if (k < mine.length) {
                        mine[k] = System.nanoTime() - s;
                    }
                    k++;
                }
                counts[me] = k;
                lat[me] = Arrays.copyOf(mine, Math.min(k, mine.length));
            }, "client-" + i);
            threads.add(t);
        }
        long t0 = System.nanoTime();
        threads.forEach(Thread::start);
        Thread.sleep(TimeUnit.SECONDS.toMillis(secs));
        stop.set(true);
        for (Thread t : threads) {
            t.join();
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        long requests = Arrays.stream(counts).sum();
        long[] all = Arrays.stream(lat).flatMapToLong(Arrays::stream).sorted().toArray();
        latencies.add(all);
        return new Level(requests * perRequest / elapsed, pct(all, 0.50), pct(all, 0.99), requests);
    }

    static double pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return Math.round(sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1e4) / 100.0;
    }

    static void waitHealthy(ManagedChannel ch, Path dir) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (true) {
            try {
                HealthGrpc.newBlockingStub(ch).withDeadlineAfter(2, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.getDefaultInstance());
                return;
            } catch (RuntimeException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("encoder-service did not start; see " + dir.resolve("service.log"));
                }
                Thread.sleep(250);
            }
        }
    }

    static ModelInfo publish(ManagedChannel ch, byte[] bytes) throws Exception {
        return ModelUpload.publish(EncoderServiceGrpc.newStub(ch), ModelUpload.chunks(bytes,
                ModelManifest.newBuilder().setName("bench"), ModelUpload.CHUNK_BYTES)).get(2, TimeUnit.MINUTES);
    }

    /** The service's /q/metrics as name{labels} to value. */
    static Map<String, Double> scrape(int port) throws Exception {
        String body = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://localhost:" + port + "/q/metrics")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        Map<String, Double> out = new java.util.HashMap<>();
        for (String line : body.split("\n")) {
            if (!line.startsWith("#") && line.contains(" ")) {
                int sp = line.lastIndexOf(' ');
                try {
                    out.put(line.substring(0, sp), Double.parseDouble(line.substring(sp + 1)));
                } catch (NumberFormatException ignored) {
                    // not a sample
                }
            }
        }
        return out;
    }

    /** Mean of a summary or histogram between two scrapes: delta of _sum over delta of _count. */
    static double mean(Map<String, Double> a, Map<String, Double> b, String name, String labels) {
        double sum = b.getOrDefault(name + "_sum" + labels, 0.0) - a.getOrDefault(name + "_sum" + labels, 0.0);
        double count = b.getOrDefault(name + "_count" + labels, 0.0) - a.getOrDefault(name + "_count" + labels, 0.0);
        return count == 0 ? Double.NaN : sum / count;
    }

    static long rss(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }
}
