package dev.selfsup.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.client.TokenFile;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.proto.ModelUpload;
import dev.selfsup.proto.Roles;
import dev.selfsup.proto.inference.GRPCInferenceServiceGrpc;
import dev.selfsup.proto.inference.ModelInferRequest;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelManifest;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Load on the encoder-service over loopback gRPC, against the same encoder run in-process in a loop of full
 * batches. Starts the packaged service, publishes the encoder, warms it up, then runs 1, 8 and 64 concurrent
 * clients (each sending Embed requests one after another) in rounds that alternate with the in-process loop, so
 * that both see the same machine, and prints per level images/second, the ratio to in-process, p50/p99 latency
 * and the CPU time the service and the clients spent per 1,000 images; then the service's RSS before and after a
 * long run at the highest level, and one JSON line. The clients share the machine with the service: on 2 cores
 * they take CPU the service would otherwise use.
 */
@Command(name = "encoder-load-bench", mixinStandardHelpOptions = true)
public final class EncoderLoadBench implements Callable<Integer> {
    @Option(
            names = "--bundle",
            description = "Encoder bundle to serve (default: a random-init small ConvNet, "
                    + "width 32, depth 1, 1x28x28: the trainer's default for Fashion-MNIST)")
    Path bundle;

    @Option(names = "--clients", split = ",", defaultValue = "1,8,64")
    int[] clients;

    @Option(
            names = "--images-per-request",
            split = ",",
            defaultValue = "1,16",
            description = "Request shapes: " + "every level runs with each")
    int[] shapes;
    /** Images per request of the shape being measured. */
    int perRequest;

    @Option(names = "--seconds", defaultValue = "5", description = "Seconds of each measurement in a round")
    int seconds;

    @Option(names = "--rss-seconds", defaultValue = "60", description = "Length of the memory run at the last level")
    int rssSeconds;

    @Option(
            names = "--batch",
            defaultValue = "64",
            description = "Full batch for the in-process loop and the " + "service's max batch size")
    int batch;

    @Option(names = "--jar", defaultValue = "encoder-service/target/quarkus-app/quarkus-run.jar")
    Path jar;

    @Option(
            names = "--service-workers",
            defaultValue = "0",
            description = "Batch workers per model version in the "
                    + "service (selfsup.encoder.workers; 0: the service's default, one per core on a CPU)")
    int serviceWorkers;

    @Option(
            names = "--service-threads",
            defaultValue = "0",
            description =
                    "libtorch threads per batch in the "
                            + "service (selfsup.encoder.intra-op-threads; 0: the service's default, the cores over the workers)")
    int serviceThreads;

    @Option(
            names = "--channels",
            defaultValue = "1",
            description = "gRPC channels (connections) the clients share, "
                    + "as the threads of one client process share a channel")
    int channels;

    @Option(
            names = "--rounds",
            defaultValue = "3",
            description = "Rounds per level; a round is --seconds of the "
                    + "in-process loop then --seconds of load on the service, so both see the same machine")
    int rounds;

    @Option(
            names = "--warmup-seconds",
            defaultValue = "60",
            description = "Load before measuring, at the highest "
                    + "level, until the service's JIT has settled (it compiles for about 50 s of load)")
    int warmupSeconds;

    @Option(
            names = "--open-inference",
            description = "Instead of the in-process comparison: Embed against the Open Inference Protocol's "
                    + "ModelInfer with the same images, alternated in each round")
    boolean openInference;

    @Option(names = "--service-env", description = "Extra environment variable for the service, K=V (repeatable)")
    List<String> serviceEnv = new ArrayList<>();

    @Option(names = "--service-jvm-option", description = "Extra JVM option for the service (repeatable)")
    List<String> serviceJvmOptions = new ArrayList<>();

    public static void main(String[] args) {
        System.exit(new CommandLine(new EncoderLoadBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        byte[] bytes = bundle != null ? Files.readAllBytes(bundle) : randomBundle();
        Map<String, Object> result = new LinkedHashMap<>();
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path dir = Files.createTempDirectory("selfsup-encoder-bench");
        // The service this bench starts accepts one operator token, made here.
        String token = TokenFile.newToken(Roles.OPERATOR);
        List<String> options = new ArrayList<>(List.of(
                "-Xmx2g",
                "-Dquarkus.http.port=" + port,
                "-Dselfsup.encoder.model-dir=" + dir.resolve("models"),
                "-Dselfsup.device=cpu",
                "-Dselfsup.auth.operator-tokens=" + token,
                "-Dselfsup.encoder.max-batch-size=" + batch,
                "-Dselfsup.encoder.workers=" + serviceWorkers,
                "-Dselfsup.encoder.intra-op-threads=" + serviceThreads));
        options.addAll(serviceJvmOptions);
        Map<String, String> env = new LinkedHashMap<>();
        for (String kv : serviceEnv) {
            int eq = kv.indexOf('=');
            env.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        ServiceProcess service = ServiceProcess.start(jar, options, env, dir.resolve("service.log"));
        List<ManagedChannel> chans = new ArrayList<>();
        try (InProcess reference = new InProcess(bytes, batch)) {
            for (int i = 0; i < channels; i++) {
                // Callbacks on the network thread: the clients' next requests go out without a thread hop.
                chans.add(ClientSecurity.token(token)
                        .channel("localhost:" + port)
                        .directExecutor()
                        .build());
            }
            service.awaitServing(chans.get(0));
            ModelInfo info = publish(chans.get(0), bytes);
            System.out.printf(
                    "service: %s v%d, %s, log %s%n",
                    info.getName(), info.getVersion(), info.getBackbone(), dir.resolve("service.log"));
            perRequest = shapes[0];
            EmbedRequest request = request(info.getInputChannels(), info.getInputSize());
            // Warm-up until both JITs have settled: C2 compiles the gRPC paths for about 50 s of load.
            reference.run(3);
            load(chans, request, clients[clients.length - 1], warmupSeconds);
            if (openInference) {
                loadModelInfer(
                        chans,
                        inferRequest(info.getInputChannels(), info.getInputSize()),
                        clients[clients.length - 1],
                        warmupSeconds);
            }
            List<Map<String, Object>> levels = new ArrayList<>();
            if (openInference) {
                for (int shape : shapes) {
                    perRequest = shape;
                    System.out.printf(
                            "%d rounds of %d s of Embed then %d s of ModelInfer; %d image(s) per request%n",
                            rounds, seconds, seconds, perRequest);
                    System.out.println(
                            "clients  Embed images/s  ModelInfer images/s  ratio  Embed p50  ModelInfer p50");
                    for (int c : clients) {
                        levels.add(compareModelInfer(chans, info.getInputChannels(), info.getInputSize(), c));
                    }
                }
                rssSeconds = 0;
            }
            for (int shape : openInference ? new int[0] : shapes) {
                perRequest = shape;
                EmbedRequest shaped = request(info.getInputChannels(), info.getInputSize());
                System.out.printf(
                        "%d rounds of %d s per level, each an in-process loop of batches of %d then the "
                                + "service; %d image(s) per request%n",
                        rounds, seconds, batch, perRequest);
                System.out.println("clients  images/s  in-process  ratio   p50 ms  p99 ms | CPU ms per 1000 images: "
                        + "service client | server: queue ms  batch ms  images/batch");
                for (int c : clients) {
                    levels.add(level(chans, shaped, c, reference, service.pid(), port));
                }
            }
            result.put("levels", levels);
            if (rssSeconds > 0) {
                int c = clients[clients.length - 1];
                perRequest = shapes[0];
                long before = service.rssBytes();
                Level l = load(chans, request, c, rssSeconds);
                long after = service.rssBytes();
                System.out.printf(
                        "memory: service RSS %d MB before, %d MB after %d s at %d clients (%.0f images/s)%n",
                        before >> 20, after >> 20, rssSeconds, c, l.imagesPerSecond);
                result.put("rss_before_mb", before >> 20);
                result.put("rss_after_mb", after >> 20);
            }
        } finally {
            chans.forEach(ManagedChannel::shutdownNow);
            service.close();
        }
        result.put("rounds", rounds);
        result.put("seconds_per_round", seconds);
        System.out.println(Json.write(result));
        return 0;
    }

    /** One level: {@link #rounds} rounds of the in-process loop then {@code c} clients on the service. */
    Map<String, Object> level(
            List<ManagedChannel> chans, EmbedRequest request, int c, InProcess reference, long servicePid, int port)
            throws Exception {
        double inImages = 0;
        double inSeconds = 0;
        List<Level> parts = new ArrayList<>();
        Map<String, Double> m0 = scrape(port);
        long serviceCpu = 0;
        long clientCpu = 0;
        for (int r = 0; r < rounds; r++) {
            double[] ref = reference.run(seconds);
            inImages += ref[0];
            inSeconds += ref[1];
            long s0 = cpuNanos(servicePid);
            long c0 = cpuNanos(ProcessHandle.current().pid());
            parts.add(load(chans, request, c, seconds));
            serviceCpu += cpuNanos(servicePid) - s0;
            clientCpu += cpuNanos(ProcessHandle.current().pid()) - c0;
        }
        Map<String, Double> m1 = scrape(port);
        Level l = Level.merge(parts);
        double inRate = inImages / inSeconds;
        double ratio = l.imagesPerSecond / inRate;
        System.out.printf(
                "%7d  %8.0f  %10.0f  %5.1f%%  %6.2f  %6.2f | %30.3f %6.3f | %15.2f  %8.2f  %12.1f%n",
                c,
                l.imagesPerSecond,
                inRate,
                100 * ratio,
                l.p50Ms,
                l.p99Ms,
                serviceCpu / 1e6 / (l.images / 1000.0),
                clientCpu / 1e6 / (l.images / 1000.0),
                1000 * mean(m0, m1, "selfsup_encoder_queue_wait_seconds", ""),
                1000 * mean(m0, m1, "selfsup_encoder_batch_seconds", ""),
                mean(m0, m1, "selfsup_encoder_batch_size_images", ""));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("clients", c);
        m.put("images_per_second", Math.round(l.imagesPerSecond));
        m.put("in_process_images_per_second", Math.round(inRate));
        m.put("of_in_process", Math.round(1000 * ratio) / 1000.0);
        m.put("p50_ms", l.p50Ms);
        m.put("p99_ms", l.p99Ms);
        m.put("service_cpu_ms_per_1000_images", Math.round(serviceCpu / 1e6 / (l.images / 1000.0)));
        m.put("client_cpu_ms_per_1000_images", Math.round(clientCpu / 1e6 / (l.images / 1000.0)));
        m.put("images_per_request", perRequest);
        return m;
    }

    /** The default bundle: the trainer's default encoder for Fashion-MNIST, randomly initialised. */
    static byte[] randomBundle() throws Exception {
        BackboneSpec spec =
                new BackboneSpec(BackboneSpec.SMALL_CONVNET, 32, 1, 1, 28, new float[] {0.286f}, new float[] {0.353f});
        Engine.getInstance().setRandomSeed(7);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Block b = Backbones.build(spec);
            b.initialize(m, DataType.FLOAT32, new Shape(1, 1, 28, 28));
            return EncoderBundle.toBytes(b, spec, null);
        }
    }

    /**
     * The reference: full batches through the encoder in one loop, as a program using core directly would run
     * it. The same random pixels as the requests carry (the speed of the first layers depends on the values).
     */
    static final class InProcess implements AutoCloseable {
        private final NDManager manager = NDManager.newBaseManager(Device.cpu());
        private final EncoderBundle.Loaded loaded;
        private final float[] pixels;
        private final Shape shape;

        InProcess(byte[] bundle, int batch) throws Exception {
            loaded = EncoderBundle.read(new ByteArrayInputStream(bundle), "bench", manager);
            BackboneSpec s = loaded.header().backbone();
            byte[] px = requestPixels(s.channels(), s.imageSize());
            pixels = new float[batch * px.length];
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] = (px[i % px.length] & 0xff) / 255f;
            }
            shape = new Shape(batch, s.channels(), s.imageSize(), s.imageSize());
        }

        /** Runs batches for {@code secs} seconds on this thread: {images, seconds}. */
        double[] run(int secs) {
            GradMode.disableOnThisThread();
            long images = 0;
            long t0 = System.nanoTime();
            long end = t0 + TimeUnit.SECONDS.toNanos(secs);
            while (System.nanoTime() < end) {
                try (NDManager b = manager.newSubManager()) {
                    NDArray h = EncoderBundle.embed(loaded.encoder(), b.create(pixels, shape));
                    h.toFloatArray();
                }
                images += shape.get(0);
            }
            return new double[] {images, (System.nanoTime() - t0) / 1e9};
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    static byte[] requestPixels(int c, int size) {
        byte[] px = new byte[c * size * size];
        new Random(3).nextBytes(px);
        return px;
    }

    EmbedRequest request(int c, int size) {
        byte[] px = requestPixels(c, size);
        EmbedRequest.Builder b = EmbedRequest.newBuilder().setModel("bench");
        for (int i = 0; i < perRequest; i++) {
            b.addImages(RawImages.of(size, size, c, px, 0, px.length));
        }
        return b.build();
    }

    /** The same images as {@link #request}, as a ModelInfer request with raw UINT8 input. */
    ModelInferRequest inferRequest(int c, int size) {
        byte[] px = requestPixels(c, size);
        byte[] all = new byte[px.length * perRequest];
        for (int i = 0; i < perRequest; i++) {
            System.arraycopy(px, 0, all, i * px.length, px.length);
        }
        return ModelInferRequest.newBuilder()
                .setModelName("bench")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder()
                        .setName("image")
                        .setDatatype("UINT8")
                        .addShape(perRequest)
                        .addShape(size)
                        .addShape(size)
                        .addShape(c))
                .addRawInputContents(com.google.protobuf.ByteString.copyFrom(all))
                .build();
    }

    /**
     * Embed against ModelInfer at one level: {@link #rounds} rounds, each {@link #seconds} of Embed then as long of
     * ModelInfer with the same images, so both see the same machine.
     */
    Map<String, Object> compareModelInfer(List<ManagedChannel> chans, int c, int size, int clientsAtOnce)
            throws Exception {
        EmbedRequest embed = request(c, size);
        ModelInferRequest infer = inferRequest(c, size);
        List<Level> e = new ArrayList<>();
        List<Level> o = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            e.add(load(chans, embed, clientsAtOnce, seconds));
            o.add(loadModelInfer(chans, infer, clientsAtOnce, seconds));
        }
        Level le = Level.merge(e);
        Level lo = Level.merge(o);
        double ratio = lo.imagesPerSecond / le.imagesPerSecond;
        System.out.printf(
                "%7d  %13.0f  %16.0f  %6.1f%%  %9.2f  %14.2f%n",
                clientsAtOnce, le.imagesPerSecond, lo.imagesPerSecond, 100 * ratio, le.p50Ms, lo.p50Ms);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("clients", clientsAtOnce);
        m.put("images_per_request", perRequest);
        m.put("embed_images_per_second", Math.round(le.imagesPerSecond));
        m.put("model_infer_images_per_second", Math.round(lo.imagesPerSecond));
        m.put("model_infer_of_embed", Math.round(1000 * ratio) / 1000.0);
        m.put("embed_p50_ms", le.p50Ms);
        m.put("model_infer_p50_ms", lo.p50Ms);
        return m;
    }

    record Level(
            double imagesPerSecond,
            double p50Ms,
            double p99Ms,
            long requests,
            long images,
            double seconds,
            long[] latencies) {
        /** Several measurements as one: images over total time, percentiles over all latencies. */
        static Level merge(List<Level> parts) {
            long images = parts.stream().mapToLong(Level::images).sum();
            double secs = parts.stream().mapToDouble(Level::seconds).sum();
            long[] all = parts.stream()
                    .flatMapToLong(p -> Arrays.stream(p.latencies))
                    .sorted()
                    .toArray();
            return new Level(
                    images / secs,
                    pct(all, 0.50),
                    pct(all, 0.99),
                    parts.stream().mapToLong(Level::requests).sum(),
                    images,
                    secs,
                    all);
        }
    }

    /**
     * {@code n} clients, each sending one request after another for {@code secs} seconds: a closed loop, as a
     * load generator such as ghz runs it. Each client sends its next request from the callback of the last one
     * (async stubs on the channels' network threads), so the load costs the shared CPU as little as it can.
     */
    Level load(List<ManagedChannel> chans, EmbedRequest request, int n, int secs) throws Exception {
        return load(
                chans,
                ch -> {
                    EncoderServiceGrpc.EncoderServiceStub stub = EncoderServiceGrpc.newStub(ch);
                    return answer ->
                            stub.withDeadlineAfter(60, TimeUnit.SECONDS).embed(request, cast(answer));
                },
                n,
                secs);
    }

    /** The same load through the Open Inference Protocol's ModelInfer. */
    Level loadModelInfer(List<ManagedChannel> chans, ModelInferRequest request, int n, int secs) throws Exception {
        return load(
                chans,
                ch -> {
                    GRPCInferenceServiceGrpc.GRPCInferenceServiceStub stub = GRPCInferenceServiceGrpc.newStub(ch);
                    return answer ->
                            stub.withDeadlineAfter(60, TimeUnit.SECONDS).modelInfer(request, cast(answer));
                },
                n,
                secs);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static <T> StreamObserver<T> cast(StreamObserver<Object> o) {
        return (StreamObserver) o;
    }

    /** {@code n} clients on the channels, each made by {@code senders} for its channel. */
    Level load(List<ManagedChannel> chans, java.util.function.Function<ManagedChannel, Sender> senders, int n, int secs)
            throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch done = new CountDownLatch(n);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Client[] clients = new Client[n];
        for (int i = 0; i < n; i++) {
            clients[i] = new Client(senders.apply(chans.get(i % chans.size())), stop, done, failure);
        }
        long t0 = System.nanoTime();
        for (Client c : clients) {
            c.send();
        }
        Thread.sleep(TimeUnit.SECONDS.toMillis(secs));
        stop.set(true);
        if (!done.await(2, TimeUnit.MINUTES)) {
            throw new IllegalStateException("clients did not finish");
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        if (failure.get() != null) {
            throw new IllegalStateException("a request failed", failure.get());
        }
        long requests = Arrays.stream(clients).mapToLong(c -> c.count).sum();
        long[] all = Arrays.stream(clients)
                .flatMapToLong(c -> Arrays.stream(c.latencies, 0, (int) Math.min(c.count, c.latencies.length)))
                .sorted()
                .toArray();
        return new Level(
                requests * perRequest / elapsed,
                pct(all, 0.50),
                pct(all, 0.99),
                requests,
                requests * perRequest,
                elapsed,
                all);
    }

    /** Sends one request of a client's load, answering into the given observer. */
    interface Sender {
        void send(StreamObserver<Object> answer);
    }

    /** One client of {@link #load}: at most one request in flight. */
    private static final class Client implements StreamObserver<Object> {
        final Sender sender;
        final AtomicBoolean stop;
        final CountDownLatch done;
        final AtomicReference<Throwable> failure;
        final long[] latencies = new long[1 << 16];
        long count;
        long sentAt;

        Client(Sender sender, AtomicBoolean stop, CountDownLatch done, AtomicReference<Throwable> failure) {
            this.sender = sender;
            this.stop = stop;
            this.done = done;
            this.failure = failure;
        }

        void send() {
            sentAt = System.nanoTime();
            sender.send(this);
        }

        @Override
        public void onNext(Object value) {
            if (count < latencies.length) {
                latencies[(int) count] = System.nanoTime() - sentAt;
            }
            count++;
        }

        @Override
        public void onError(Throwable t) {
            failure.compareAndSet(null, t);
            done.countDown();
        }

        @Override
        public void onCompleted() {
            if (stop.get()) {
                done.countDown();
            } else {
                send();
            }
        }
    }

    static double pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return Math.round(sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1e4) / 100.0;
    }

    static ModelInfo publish(ManagedChannel ch, byte[] bytes) throws Exception {
        return ModelUpload.publish(
                        EncoderServiceGrpc.newStub(ch),
                        ModelUpload.chunks(bytes, ModelManifest.newBuilder().setName("bench"), ModelUpload.CHUNK_BYTES))
                .get(2, TimeUnit.MINUTES);
    }

    /** The service's /q/metrics as name{labels} to value. */
    static Map<String, Double> scrape(int port) throws Exception {
        String body = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/q/metrics"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
        Map<String, Double> out = new HashMap<>();
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

    /** CPU time (user + system) of a process so far, from /proc. */
    static long cpuNanos(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14 and 15)
        return ticks * 10_000_000L; // USER_HZ is 100 on Linux
    }
}
