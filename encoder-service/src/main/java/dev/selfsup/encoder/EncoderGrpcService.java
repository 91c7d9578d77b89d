package dev.selfsup.encoder;

import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;
import dev.selfsup.core.io.Json;
import dev.selfsup.proto.v1.AddToGalleryRequest;
import dev.selfsup.proto.v1.AddToGalleryResponse;
import dev.selfsup.proto.v1.ClearGalleryRequest;
import dev.selfsup.proto.v1.ClearGalleryResponse;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.proto.v1.Embedding;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.GalleryItem;
import dev.selfsup.proto.v1.GetModelRequest;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.ListModelsRequest;
import dev.selfsup.proto.v1.ListModelsResponse;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelManifest;
import dev.selfsup.proto.v1.ModelState;
import dev.selfsup.proto.v1.Neighbor;
import dev.selfsup.proto.v1.SearchRequest;
import dev.selfsup.proto.v1.SearchResponse;
import dev.selfsup.proto.v1.SearchResult;
import dev.selfsup.proto.v1.SetDefaultVersionRequest;
import dev.selfsup.proto.v1.UnloadModelRequest;
import dev.selfsup.proto.v1.UnloadModelResponse;
import dev.selfsup.service.ImageInputs;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.vertx.core.Vertx;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The encoder-service's gRPC API: a thin adapter from protos to {@link ModelRegistry}. Images are decoded on
 * worker threads; the model's batcher thread does the device work; answers are written when the batch is done.
 */
@GrpcService
public class EncoderGrpcService extends EncoderServiceGrpc.EncoderServiceImplBase {
    @Inject
    ModelRegistry registry;
    @Inject
    EncoderMetrics metrics;

    @ConfigProperty(name = "selfsup.encoder.max-request-images", defaultValue = "256")
    int maxRequestImages;
    @ConfigProperty(name = "selfsup.encoder.max-model-bytes", defaultValue = "2147483648")
    long maxModelBytes;
    /** Requests of one EmbedStream in flight at once: enough to keep the batcher fed, few enough to bound memory. */
    @ConfigProperty(name = "selfsup.encoder.stream-window", defaultValue = "4")
    int streamWindow;

    private final ExecutorService work = Executors.newFixedThreadPool(
            Math.max(2, Runtime.getRuntime().availableProcessors()), r -> {
                Thread t = new Thread(r, "encoder-work");
                t.setDaemon(true);
                return t;
            });

    @PreDestroy
    void stop() {
        work.shutdownNow();
    }

    // ---- Embedding ----

    @Override
    public void embed(EmbedRequest request, StreamObserver<EmbedResponse> out) {
        // Not @Blocking: Quarkus runs the blocking methods of one connection one after another, and clients
        // share connections. Decoding runs on this service's own pool instead, in parallel, unless it is so cheap
        // that the hop to the pool would cost more than the work.
        BooleanSupplier abandoned = abandonedCheck(out);
        io.vertx.core.Context connection = Vertx.currentContext();
        if (smallRawPixels(request)) {
            embedNow(request, out, abandoned, connection);
            return;
        }
        Context ctx = Context.current();
        work.execute(ctx.wrap(() -> embedNow(request, out, abandoned, connection)));
    }

    /**
     * Raw pixels only, at most {@link #INLINE_RAW_BYTES} of them: converting them to floats takes microseconds,
     * so they are prepared and queued on the event loop. Encoded images are decoded on the pool.
     */
    static boolean smallRawPixels(EmbedRequest request) {
        long bytes = 0;
        for (Image image : request.getImagesList()) {
            if (!image.hasRaw()) {
                return false;
            }
            bytes += image.getRaw().getData().size();
        }
        return bytes <= INLINE_RAW_BYTES;
    }

    /** Raw pixel bytes a request may carry to be prepared on the event loop (64 Fashion-MNIST images). */
    static final int INLINE_RAW_BYTES = 64 * 28 * 28;

    /**
     * @param connection the event loop of the call, if it came on one: the answer is written there in one task
     *     (headers, message and trailers), rather than from the batcher's thread, where each write would be a
     *     separate hop to the event loop
     */
    private void embedNow(EmbedRequest request, StreamObserver<EmbedResponse> out, BooleanSupplier abandoned,
            io.vertx.core.Context connection) {
        long t0 = System.nanoTime();
        CompletableFuture<EmbedResponse> f;
        try {
            f = startEmbed(request, abandoned);
        } catch (RuntimeException e) {
            fail(out, "Embed", t0, e);
            return;
        }
        f.whenComplete((r, e) -> {
            Runnable answer = () -> {
                if (out instanceof ServerCallStreamObserver<?> call && call.isCancelled()) {
                    // The client reset the stream (deadline or cancel). Answering it from the event loop made
                    // Vert.x write on a stream Netty had already dropped, and Netty closed the whole connection
                    // (GOAWAY, PROTOCOL_ERROR) under every other call on it.
                    metrics.request("Embed", e != null ? toStatus(e).getStatus().getCode().name() : "CANCELLED",
                            System.nanoTime() - t0);
                    return;
                }
                if (e != null) {
                    fail(out, "Embed", t0, e);
                } else {
                    out.onNext(r);
                    out.onCompleted();
                    metrics.request("Embed", "OK", System.nanoTime() - t0);
                }
            };
            if (connection == null || Vertx.currentContext() == connection) {
                answer.run();
            } else {
                connection.runOnContext(v -> answer.run());
            }
        });
    }

    /** Checks, preprocesses and queues one request; the future completes when its batch has run. */
    private CompletableFuture<EmbedResponse> startEmbed(EmbedRequest request, BooleanSupplier abandoned) {
        requireModel(request.getModel());
        int n = request.getImagesCount();
        for (int attempt = 0; ; attempt++) {
            ServedModel m = registry.serving(request.getModel(), request.getVersion());
            float[] pixels = ImageInputs.toPixels(request.getImagesList(), m.spec().channels(), m.spec().imageSize(), maxRequestImages, "images");
            CompletableFuture<float[]> f;
            try {
                f = m.embed(pixels, n, abandoned);
            } catch (DynamicBatcher.ClosedException e) {
                // The version was retired between resolving and queueing: resolve again (a switch fails nothing).
                if (attempt < 2 && request.getVersion() == 0) {
                    continue;
                }
                throw Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException();
            }
            int dim = m.featureDim();
            String name = m.record().name();
            int version = m.record().version();
            return f.thenApply(values -> {
                metrics.imagesEmbedded(name, n);
                EmbedResponse.Builder b = EmbedResponse.newBuilder().setModel(name).setVersion(version)
                        .setRequestId(request.getRequestId());
                for (int i = 0; i < n; i++) {
                    if (request.getNormalize()) {
                        Gallery.normalize(values, i * dim, dim);
                    }
                    Embedding.Builder e = Embedding.newBuilder();
                    for (int j = 0; j < dim; j++) {
                        e.addValues(values[i * dim + j]);
                    }
                    b.addEmbeddings(e);
                }
                return b.build();
            });
        }
    }

    @Override
    public StreamObserver<EmbedRequest> embedStream(StreamObserver<EmbedResponse> responses) {
        ServerCallStreamObserver<EmbedResponse> out = (ServerCallStreamObserver<EmbedResponse>) responses;
        // Flow control by hand: at most streamWindow requests are read ahead of the responses written, and none
        // while the client is not reading, so a slow client cannot make the server buffer without bound.
        out.disableAutoRequest();
        EmbedPipeline pipeline = new EmbedPipeline(out);
        out.setOnReadyHandler(pipeline::drain);
        out.setOnCancelHandler(pipeline::cancel);
        out.request(streamWindow);
        return pipeline;
    }

    /** One EmbedStream: responses in request order, a bounded number in flight. */
    private final class EmbedPipeline implements StreamObserver<EmbedRequest> {
        private final ServerCallStreamObserver<EmbedResponse> out;
        private final ArrayDeque<CompletableFuture<EmbedResponse>> pending = new ArrayDeque<>();
        private final long t0 = System.nanoTime();
        private boolean halfClosed;
        private boolean done;

        EmbedPipeline(ServerCallStreamObserver<EmbedResponse> out) {
            this.out = out;
        }

        @Override
        public void onNext(EmbedRequest request) {
            BooleanSupplier abandoned = abandonedCheck(out);
            CompletableFuture<EmbedResponse> f = CompletableFuture
                    .supplyAsync(() -> startEmbed(request, abandoned), work).thenCompose(x -> x);
            synchronized (this) {
                pending.add(f);
            }
            f.whenComplete((r, e) -> drain());
        }

        /** Writes finished responses in order while the client can take them; asks for one request per answer. */
        synchronized void drain() {
            while (!done && !pending.isEmpty() && pending.peek().isDone() && out.isReady()) {
                CompletableFuture<EmbedResponse> f = pending.poll();
                try {
                    out.onNext(f.join());
                    out.request(1);
                } catch (CompletionException e) {
                    done = true;
                    fail(out, "EmbedStream", t0, e);
                    return;
                }
            }
            if (!done && halfClosed && pending.isEmpty()) {
                done = true;
                out.onCompleted();
                metrics.request("EmbedStream", "OK", System.nanoTime() - t0);
            }
        }

        synchronized void cancel() {
            done = true;
            pending.forEach(f -> f.cancel(false));
        }

        @Override
        public void onError(Throwable t) {
            cancel();
        }

        @Override
        public void onCompleted() {
            synchronized (this) {
                halfClosed = true;
            }
            drain();
        }
    }

    // ---- Models ----

    @Override
    public StreamObserver<ModelChunk> publishModel(StreamObserver<ModelInfo> out) {
        return new StreamObserver<>() {
            private ModelManifest manifest;
            private Path file;
            private OutputStream stream;
            private MessageDigest sha;
            private long received;
            private boolean failed;
            private final long t0 = System.nanoTime();

            @Override
            public void onNext(ModelChunk chunk) {
                if (failed) {
                    return;
                }
                try {
                    if (manifest == null) {
                        if (!chunk.hasManifest()) {
                            throw invalid("the first chunk must be the manifest (name, size_bytes, sha256)");
                        }
                        manifest = chunk.getManifest();
                        requireModel(manifest.getName());
                        if (manifest.getSizeBytes() <= 0) {
                            throw invalid("manifest.size_bytes must be the bundle's size in bytes");
                        }
                        if (manifest.getSizeBytes() > maxModelBytes) {
                            throw Status.RESOURCE_EXHAUSTED.withDescription("the bundle is " + manifest.getSizeBytes()
                                    + " bytes; this service takes at most " + maxModelBytes
                                    + " (selfsup.encoder.max-model-bytes)").asRuntimeException();
                        }
                        if (!manifest.getSha256().matches("[0-9a-fA-F]{64}")) {
                            throw invalid("manifest.sha256 must be the bundle's SHA-256 as 64 hex digits");
                        }
                        file = registry.newUploadFile();
                        stream = Files.newOutputStream(file);
                        sha = MessageDigest.getInstance("SHA-256");
                        return;
                    }
                    if (!chunk.hasData()) {
                        throw invalid("only the first chunk may be a manifest");
                    }
                    received += chunk.getData().size();
                    if (received > manifest.getSizeBytes()) {
                        throw invalid("received more than the manifest's size_bytes (" + manifest.getSizeBytes() + ")");
                    }
                    chunk.getData().writeTo(stream);
                    sha.update(chunk.getData().asReadOnlyByteBuffer());
                } catch (StatusRuntimeException e) {
                    abort(e);
                } catch (IOException | java.security.NoSuchAlgorithmException e) {
                    abort(Status.INTERNAL.withDescription("cannot store the upload: " + e.getMessage())
                            .asRuntimeException());
                }
            }

            private void abort(StatusRuntimeException e) {
                failed = true;
                cleanup();
                fail(out, "PublishModel", t0, e);
            }

            private void cleanup() {
                try {
                    if (stream != null) {
                        stream.close();
                    }
                    if (file != null) {
                        Files.deleteIfExists(file);
                    }
                } catch (IOException ignored) {
                    // Left-over uploads are removed at the next start.
                }
            }

            @Override
            public void onError(Throwable t) {
                failed = true;
                cleanup();
            }

            @Override
            public void onCompleted() {
                if (failed) {
                    return;
                }
                if (manifest == null) {
                    abort(invalid("no chunks: send the manifest, then the bundle's bytes"));
                    return;
                }
                try {
                    stream.close();
                } catch (IOException e) {
                    abort(Status.INTERNAL.withDescription("cannot store the upload: " + e.getMessage())
                            .asRuntimeException());
                    return;
                }
                if (received != manifest.getSizeBytes()) {
                    abort(invalid("received " + received + " bytes but the manifest says " + manifest.getSizeBytes()
                            + "; the upload was cut short"));
                    return;
                }
                String digest = HexFormat.of().formatHex(sha.digest());
                if (!digest.equalsIgnoreCase(manifest.getSha256())) {
                    abort(invalid("SHA-256 mismatch: the manifest says " + manifest.getSha256() + ", the bytes are "
                            + digest + "; the bundle was corrupted in transit"));
                    return;
                }
                // Loading takes a while and touches the device: off the event loop.
                work.execute(() -> {
                    try {
                        ModelRegistry.Version v = registry.publish(manifest.getName(), file, digest.toLowerCase(),
                                received, manifest.getRunId());
                        out.onNext(info(v));
                        out.onCompleted();
                        metrics.request("PublishModel", "OK", System.nanoTime() - t0);
                    } catch (RuntimeException e) {
                        cleanup();
                        fail(out, "PublishModel", t0, e);
                    }
                });
            }
        };
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> out) {
        unary(out, "ListModels", () -> {
            ListModelsResponse.Builder b = ListModelsResponse.newBuilder();
            registry.list(request.getName()).forEach(v -> b.addModels(info(v)));
            return b.build();
        });
    }

    @Override
    public void getModel(GetModelRequest request, StreamObserver<ModelInfo> out) {
        unary(out, "GetModel", () -> {
            requireModel(request.getName());
            return info(registry.get(request.getName(), request.getVersion()));
        });
    }

    @Override
    public void setDefaultVersion(SetDefaultVersionRequest request, StreamObserver<ModelInfo> out) {
        unary(out, "SetDefaultVersion", () -> {
            requireModel(request.getName());
            return info(registry.setDefault(request.getName(), request.getVersion()));
        });
    }

    @Override
    public void unloadModel(UnloadModelRequest request, StreamObserver<UnloadModelResponse> out) {
        offload(() -> unloadModelNow(request, out));
    }

    private void unloadModelNow(UnloadModelRequest request, StreamObserver<UnloadModelResponse> out) {
        unary(out, "UnloadModel", () -> {
            requireModel(request.getName());
            return UnloadModelResponse.newBuilder()
                    .addAllVersions(registry.unload(request.getName(), request.getVersion())).build();
        });
    }

    private ModelInfo info(ModelRegistry.Version v) {
        ModelStore.VersionRecord r = v.record();
        ModelInfo.Builder b = ModelInfo.newBuilder().setName(r.name()).setVersion(r.version())
                .setState(switch (v.state()) {
                    case LOADING -> ModelState.MODEL_STATE_LOADING;
                    case READY -> ModelState.MODEL_STATE_READY;
                    case FAILED -> ModelState.MODEL_STATE_FAILED;
                }).setIsDefault(registry.isDefault(v)).setSha256(r.sha256()).setSizeBytes(r.sizeBytes())
                .setRunId(r.runId() == null ? "" : r.runId())
                .setPublishedAt(Timestamps.fromMillis(r.publishedAt().toEpochMilli()));
        if (v.error() != null) {
            b.setError(v.error());
        }
        ServedModel m = v.model();
        if (m != null) {
            b.setFeatureDim(m.featureDim()).setInputChannels(m.spec().channels()).setInputSize(m.spec().imageSize())
                    .setBackbone(m.spec().toString()).setLoadDuration(Durations.fromNanos(m.loadNanos()))
                    .setGallerySize(m.gallery().size());
            if (m.header().provenance() != null) {
                b.setProvenanceJson(Json.write(m.header().provenance()));
            }
        }
        return b.build();
    }

    // ---- Gallery ----

    @Override
    public void addToGallery(AddToGalleryRequest request, StreamObserver<AddToGalleryResponse> out) {
        offload(() -> addToGalleryNow(request, out));
    }

    private void addToGalleryNow(AddToGalleryRequest request, StreamObserver<AddToGalleryResponse> out) {
        long t0 = System.nanoTime();
        try {
            requireModel(request.getModel());
            ServedModel m = registry.serving(request.getModel(), request.getVersion());
            List<Image> images = new ArrayList<>();
            List<String> ids = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < request.getItemsCount(); i++) {
                GalleryItem item = request.getItems(i);
                if (item.getId().isEmpty()) {
                    throw invalid("items[" + i + "].id is empty: every gallery item needs an id");
                }
                if (!seen.add(item.getId())) {
                    throw invalid("items[" + i + "].id '" + item.getId() + "' appears twice in the request");
                }
                images.add(item.getImage());
                ids.add(item.getId());
                labels.add(item.getLabel());
            }
            float[] pixels = ImageInputs.toPixels(images, m.spec().channels(), m.spec().imageSize(), maxRequestImages, "items");
            m.embed(pixels, images.size(), abandonedCheck(out)).whenComplete((values, e) -> {
                if (e != null) {
                    fail(out, "AddToGallery", t0, e);
                    return;
                }
                try {
                    m.gallery().add(ids, labels, values);
                } catch (RuntimeException ex) {
                    fail(out, "AddToGallery", t0, ex);
                    return;
                }
                out.onNext(AddToGalleryResponse.newBuilder().setModel(m.record().name())
                        .setVersion(m.record().version()).setGallerySize(m.gallery().size()).build());
                out.onCompleted();
                metrics.request("AddToGallery", "OK", System.nanoTime() - t0);
            });
        } catch (RuntimeException e) {
            fail(out, "AddToGallery", t0, e);
        }
    }

    @Override
    public void search(SearchRequest request, StreamObserver<SearchResponse> out) {
        offload(() -> searchNow(request, out));
    }

    private void searchNow(SearchRequest request, StreamObserver<SearchResponse> out) {
        long t0 = System.nanoTime();
        try {
            requireModel(request.getModel());
            if (request.getK() < 0) {
                throw invalid("k must be positive (or 0 for the default of 10)");
            }
            int k = request.getK() == 0 ? 10 : request.getK();
            ServedModel m = registry.serving(request.getModel(), request.getVersion());
            if (m.gallery().size() == 0) {
                throw Status.FAILED_PRECONDITION.withDescription("the gallery of " + m.record().name() + " v"
                        + m.record().version() + " is empty; add images with AddToGallery").asRuntimeException();
            }
            float[] pixels = ImageInputs.toPixels(request.getQueriesList(), m.spec().channels(), m.spec().imageSize(), maxRequestImages, "queries");
            int n = request.getQueriesCount();
            float[] q = m.embed(pixels, n, abandonedCheck(out)).get();
            Gallery.Result[] results = m.searchGallery(q, n, k);
            SearchResponse.Builder b = SearchResponse.newBuilder().setModel(m.record().name())
                    .setVersion(m.record().version());
            for (Gallery.Result r : results) {
                SearchResult.Builder sr = SearchResult.newBuilder();
                r.hits().forEach(h -> sr.addNeighbors(Neighbor.newBuilder().setId(h.id()).setLabel(h.label())
                        .setScore(h.score())));
                if (r.predictedLabel() != null) {
                    sr.setPredictedLabel(r.predictedLabel());
                }
                b.addResults(sr);
            }
            out.onNext(b.build());
            out.onCompleted();
            metrics.request("Search", "OK", System.nanoTime() - t0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(out, "Search", t0, Status.CANCELLED.asRuntimeException());
        } catch (ExecutionException e) {
            fail(out, "Search", t0, e.getCause());
        } catch (RuntimeException e) {
            fail(out, "Search", t0, e);
        }
    }

    @Override
    public void clearGallery(ClearGalleryRequest request, StreamObserver<ClearGalleryResponse> out) {
        unary(out, "ClearGallery", () -> {
            requireModel(request.getModel());
            registry.serving(request.getModel(), request.getVersion()).gallery().clear();
            return ClearGalleryResponse.getDefaultInstance();
        });
    }

    // ---- Helpers ----

    /** Runs work that blocks or takes CPU on this service's pool, keeping the gRPC context (deadline). */
    private void offload(Runnable task) {
        work.execute(Context.current().wrap(task));
    }

    private <T> void unary(StreamObserver<T> out, String method, java.util.function.Supplier<T> body) {
        long t0 = System.nanoTime();
        try {
            T r = body.get();
            out.onNext(r);
            out.onCompleted();
            metrics.request(method, "OK", System.nanoTime() - t0);
        } catch (RuntimeException e) {
            fail(out, method, t0, e);
        }
    }

    /** True once the client no longer wants the answer: it cancelled, or the call's deadline passed. */
    private static BooleanSupplier abandonedCheck(StreamObserver<?> out) {
        Context ctx = Context.current();
        io.grpc.Deadline deadline = DeadlineInterceptor.DEADLINE.get(ctx);
        ServerCallStreamObserver<?> call = out instanceof ServerCallStreamObserver<?> s ? s : null;
        return () -> ctx.isCancelled() || (deadline != null && deadline.isExpired())
                || (call != null && call.isCancelled());
    }

    private void fail(StreamObserver<?> out, String method, long t0, Throwable e) {
        StatusRuntimeException s = toStatus(e);
        metrics.request(method, s.getStatus().getCode().name(), System.nanoTime() - t0);
        try {
            out.onError(s);
        } catch (IllegalStateException alreadyClosed) {
            // The call was cancelled meanwhile; nobody is listening.
        }
    }

    static StatusRuntimeException toStatus(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        if (e instanceof StatusRuntimeException s) {
            return s;
        }
        if (e instanceof DynamicBatcher.QueueFullException) {
            return Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage()).asRuntimeException();
        }
        if (e instanceof DynamicBatcher.AbandonedException) {
            return Status.DEADLINE_EXCEEDED.withDescription(e.getMessage()).asRuntimeException();
        }
        if (e instanceof DynamicBatcher.ClosedException) {
            return Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException();
        }
        return dev.selfsup.service.GrpcErrors.toStatus(e).asRuntimeException();
    }

    private static void requireModel(String name) {
        if (name.isEmpty()) {
            throw invalid("model is empty: name the model to use (ListModels shows them)");
        }
        if (!ModelStore.NAME.matcher(name).matches()) {
            throw invalid("model name '" + name + "' is not valid: use 1 to 64 of a-z, 0-9, '.', '_' and '-', "
                    + "starting with a letter or digit");
        }
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
