package dev.selfsup.encoder;

import dev.selfsup.proto.Roles;
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
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
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

    @ConfigProperty(name = "selfsup.encoder.max-request-images", defaultValue = "256")
    int maxRequestImages;

    @ConfigProperty(name = "selfsup.encoder.max-model-bytes", defaultValue = "2147483648")
    long maxModelBytes;
    /** Requests of one EmbedStream in flight at once: enough to keep the batcher fed, few enough to bound memory. */
    @ConfigProperty(name = "selfsup.encoder.stream-window", defaultValue = "4")
    int streamWindow;

    @Inject
    ImageEmbedder embedder;

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
        calls.batched(out, smallRawPixels(request), abandoned -> startEmbed(request, abandoned));
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

    /** Checks, preprocesses and queues one request; the future completes when its batch has run. */
    private CompletableFuture<EmbedResponse> startEmbed(EmbedRequest request, BooleanSupplier abandoned) {
        return embedder.embed(
                        request.getModel(),
                        request.getVersion(),
                        request.getImagesList(),
                        "images",
                        request.getNormalize(),
                        abandoned)
                .thenApply(r -> {
                    EmbedResponse.Builder b = EmbedResponse.newBuilder()
                            .setModel(r.model())
                            .setVersion(r.version())
                            .setRequestId(request.getRequestId());
                    for (int i = 0; i < r.count(); i++) {
                        Embedding.Builder e = Embedding.newBuilder();
                        for (int j = 0; j < r.dim(); j++) {
                            e.addValues(r.values()[i * r.dim() + j]);
                        }
                        b.addEmbeddings(e);
                    }
                    return b.build();
                });
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
