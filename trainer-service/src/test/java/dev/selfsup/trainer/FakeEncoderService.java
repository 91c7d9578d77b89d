package dev.selfsup.trainer;

import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelManifest;
import dev.selfsup.proto.v1.ModelState;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in encoder-service for the trainer's tests: it takes PublishModel uploads, keeps them, and answers
 * with a version number, so a test can check what the trainer sent.
 */
public class FakeEncoderService implements QuarkusTestResourceLifecycleManager {
    /** One upload as received. */
    public record Upload(ModelManifest manifest, byte[] bytes) {}

    public static final List<Upload> UPLOADS = new CopyOnWriteArrayList<>();

    private Server server;

    @Override
    public Map<String, String> start() {
        server = ServerBuilder.forPort(0)
                .addService(io.grpc.ServerInterceptors.intercept(
                        new EncoderServiceGrpc.EncoderServiceImplBase() {
                            @Override
                            public StreamObserver<ModelChunk> publishModel(StreamObserver<ModelInfo> out) {
                                return new StreamObserver<>() {
                                    ModelManifest manifest;
                                    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

                                    @Override
                                    public void onNext(ModelChunk c) {
                                        if (c.hasManifest()) {
                                            manifest = c.getManifest();
                                        } else {
                                            bytes.writeBytes(c.getData().toByteArray());
                                        }
                                    }

                                    @Override
                                    public void onError(Throwable t) {}

                                    @Override
                                    public void onCompleted() {
                                        UPLOADS.add(new Upload(manifest, bytes.toByteArray()));
                                        int version = (int) UPLOADS.stream()
                                                .filter(u ->
                                                        u.manifest().getName().equals(manifest.getName()))
                                                .count();
                                        out.onNext(ModelInfo.newBuilder()
                                                .setName(manifest.getName())
                                                .setVersion(version)
                                                .setState(ModelState.MODEL_STATE_READY)
                                                .setSha256(manifest.getSha256())
                                                .build());
                                        out.onCompleted();
                                    }
                                };
                            }
                        },
                        new RequireOperatorToken()))
                .build();
        try {
            server.start();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return Map.of("selfsup.trainer.encoder-service", "localhost:" + server.getPort());
    }

    @Override
    public void stop() {
        if (server != null) {
            server.shutdownNow();
        }
    }
}
