package dev.selfsup.encoder;

import dev.selfsup.client.Roles;
import dev.selfsup.proto.v1.AddToGalleryRequest;
import dev.selfsup.proto.v1.AddToGalleryResponse;
import dev.selfsup.proto.v1.ClearGalleryRequest;
import dev.selfsup.proto.v1.ClearGalleryResponse;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.proto.v1.Embedding;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.GetModelRequest;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.ListModelsRequest;
import dev.selfsup.proto.v1.ListModelsResponse;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.SearchRequest;
import dev.selfsup.proto.v1.SearchResponse;
import dev.selfsup.proto.v1.SetDefaultVersionRequest;
import dev.selfsup.proto.v1.UnloadModelRequest;
import dev.selfsup.proto.v1.UnloadModelResponse;
import dev.selfsup.service.GrpcCalls;
import dev.selfsup.service.ImageInputs;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.vertx.core.Vertx;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.security.RolesAllowed;
import jakarta.inject.Inject;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The encoder-service's gRPC API: a thin adapter from protos to {@link ModelRegistry}. Images are decoded on
 * worker threads; the model's batcher thread does the device work; answers are written when the batch is done.
 * The streams and the gallery have classes of their own ({@link EmbedStreamPipeline}, {@link ModelUploadSink},
 * {@link GalleryCalls}); {@link EncoderCalls} answers, counts and maps the failure of every call.
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

    private EncoderCalls calls;
    private GalleryCalls galleries;

    @PostConstruct
    void init() {
        calls = new EncoderCalls();
        galleries = new GalleryCalls(registry, calls, maxRequestImages);
    }

    @PreDestroy
    void stop() {
        calls.close();
    }

    // ---- Embedding ----

    @RolesAllowed(Roles.READER)
    @Override
    public void embed(EmbedRequest request, StreamObserver<EmbedResponse> out) {
        // Not @Blocking: Quarkus runs the blocking methods of one connection one after another, and clients
        // share connections. Decoding runs on this service's own pool instead, in parallel, unless it is so cheap
        // that the hop to the pool would cost more than the work.
        BooleanSupplier abandoned = GrpcCalls.abandoned(out);
        io.vertx.core.Context connection = Vertx.currentContext();
        if (smallRawPixels(request)) {
            embedNow(request, out, abandoned, connection);
            return;
        }
        Context ctx = Context.current();
        calls.pool().execute(ctx.wrap(() -> embedNow(request, out, abandoned, connection)));
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
    private void embedNow(
            EmbedRequest request,
            StreamObserver<EmbedResponse> out,
            BooleanSupplier abandoned,
            io.vertx.core.Context connection) {
        CompletableFuture<EmbedResponse> f;
        try {
            f = startEmbed(request, abandoned);
        } catch (RuntimeException e) {
            calls.fail(out, e);
            return;
        }
        f.whenComplete((r, e) -> {
            Runnable answer = () -> {
                if (out instanceof ServerCallStreamObserver<?> call && call.isCancelled()) {
                    // The client reset the stream (deadline or cancel). Answering it from the event loop made
                    // Vert.x write on a stream Netty had already dropped, and Netty closed the whole connection
                    // (GOAWAY, PROTOCOL_ERROR) under every other call on it.
                    return;
                }
                if (e != null) {
                    calls.fail(out, e);
                } else {
                    out.onNext(r);
                    out.onCompleted();
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
        EncoderCalls.requireModel(request.getModel());
        int n = request.getImagesCount();
        for (int attempt = 0; ; attempt++) {
            ServedModel m = registry.serving(request.getModel(), request.getVersion());
            float[] pixels = ImageInputs.toPixels(
                    request.getImagesList(), m.spec().channels(), m.spec().imageSize(), maxRequestImages, "images");
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
                EmbedResponse.Builder b = EmbedResponse.newBuilder()
                        .setModel(name)
                        .setVersion(version)
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

    @RolesAllowed(Roles.READER)
    @Override
    public StreamObserver<EmbedRequest> embedStream(StreamObserver<EmbedResponse> responses) {
        ServerCallStreamObserver<EmbedResponse> out = (ServerCallStreamObserver<EmbedResponse>) responses;
        // Flow control by hand: at most streamWindow requests are read ahead of the responses written, and none
        // while the client is not reading, so a slow client cannot make the server buffer without bound.
        out.disableAutoRequest();
        EmbedStreamPipeline pipeline = new EmbedStreamPipeline(out, calls, this::startEmbed);
        out.setOnReadyHandler(pipeline::drain);
        out.setOnCancelHandler(pipeline::cancel);
        out.request(streamWindow);
        return pipeline;
    }

    // ---- Models ----

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public StreamObserver<ModelChunk> publishModel(StreamObserver<ModelInfo> out) {
        return new ModelUploadSink(registry, calls, out, maxModelBytes);
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> out) {
        calls.unary(out, () -> {
            ListModelsResponse.Builder b = ListModelsResponse.newBuilder();
            registry.list(request.getName()).forEach(v -> b.addModels(ModelInfos.of(v, registry)));
            return b.build();
        });
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void getModel(GetModelRequest request, StreamObserver<ModelInfo> out) {
        calls.unary(out, () -> {
            EncoderCalls.requireModel(request.getName());
            return ModelInfos.of(registry.get(request.getName(), request.getVersion()), registry);
        });
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void setDefaultVersion(SetDefaultVersionRequest request, StreamObserver<ModelInfo> out) {
        calls.unary(out, () -> {
            EncoderCalls.requireModel(request.getName());
            return ModelInfos.of(registry.setDefault(request.getName(), request.getVersion()), registry);
        });
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void unloadModel(UnloadModelRequest request, StreamObserver<UnloadModelResponse> out) {
        calls.offload(() -> unloadModelNow(request, out));
    }

    private void unloadModelNow(UnloadModelRequest request, StreamObserver<UnloadModelResponse> out) {
        calls.unary(out, () -> {
            EncoderCalls.requireModel(request.getName());
            return UnloadModelResponse.newBuilder()
                    .addAllVersions(registry.unload(request.getName(), request.getVersion()))
                    .build();
        });
    }

    // ---- Gallery ----

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void addToGallery(AddToGalleryRequest request, StreamObserver<AddToGalleryResponse> out) {
        calls.offload(() -> galleries.add(request, out));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void search(SearchRequest request, StreamObserver<SearchResponse> out) {
        calls.offload(() -> galleries.search(request, out));
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void clearGallery(ClearGalleryRequest request, StreamObserver<ClearGalleryResponse> out) {
        calls.unary(out, () -> galleries.clear(request));
    }
}
