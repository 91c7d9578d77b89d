package dev.selfsup.encoder;

import dev.selfsup.proto.Roles;
import dev.selfsup.proto.inference.GRPCInferenceServiceGrpc;
import dev.selfsup.proto.inference.ModelInferRequest;
import dev.selfsup.proto.inference.ModelInferResponse;
import dev.selfsup.proto.inference.ModelMetadataRequest;
import dev.selfsup.proto.inference.ModelMetadataResponse;
import dev.selfsup.proto.inference.ModelReadyRequest;
import dev.selfsup.proto.inference.ModelReadyResponse;
import dev.selfsup.proto.inference.ServerLiveRequest;
import dev.selfsup.proto.inference.ServerLiveResponse;
import dev.selfsup.proto.inference.ServerMetadataRequest;
import dev.selfsup.proto.inference.ServerMetadataResponse;
import dev.selfsup.proto.inference.ServerReadyRequest;
import dev.selfsup.proto.inference.ServerReadyResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.security.RolesAllowed;
import jakarta.inject.Inject;

/**
 * {@code inference.GRPCInferenceService}, the Open Inference Protocol's gRPC service, on the encoder-service's port:
 * a thin adapter over {@link OpenInference}. Every call needs a reader token, as Embed does; unauthenticated probes
 * use {@code grpc.health.v1} or {@code /q/health}.
 */
@GrpcService
public class OpenInferenceGrpcService extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {
    @Inject
    OpenInference inference;

    private EncoderCalls calls;

    @PostConstruct
    void init() {
        calls = new EncoderCalls();
    }

    @PreDestroy
    void stop() {
        calls.close();
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> out) {
        calls.unary(out, () -> ServerLiveResponse.newBuilder().setLive(true).build());
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void serverReady(ServerReadyRequest request, StreamObserver<ServerReadyResponse> out) {
        // The health checks may block: off the event loop.
        calls.blocking(
                out,
                () -> ServerReadyResponse.newBuilder()
                        .setReady(inference.serverReady())
                        .build());
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> out) {
        calls.unary(
                out,
                () -> ModelReadyResponse.newBuilder()
                        .setReady(inference.modelReady(request.getName(), request.getVersion()))
                        .build());
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void serverMetadata(ServerMetadataRequest request, StreamObserver<ServerMetadataResponse> out) {
        calls.unary(out, inference::serverMetadata);
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void modelMetadata(ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> out) {
        calls.unary(out, () -> inference.modelMetadata(request.getName(), request.getVersion()));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> out) {
        // As Embed: a few raw pixels are checked and queued on the event loop, anything else on the pool.
        calls.batched(out, smallRawPixels(request), abandoned -> inference.infer(request, abandoned));
    }

    /** Raw UINT8 or FP32 pixels of at most {@link EncoderGrpcService#INLINE_RAW_BYTES} bytes. */
    static boolean smallRawPixels(ModelInferRequest request) {
        if (request.getInputsCount() != 1 || "BYTES".equals(request.getInputs(0).getDatatype())) {
            return false;
        }
        long bytes = 0;
        for (var raw : request.getRawInputContentsList()) {
            bytes += raw.size();
        }
        return request.getRawInputContentsCount() > 0 && bytes <= EncoderGrpcService.INLINE_RAW_BYTES;
    }
}
