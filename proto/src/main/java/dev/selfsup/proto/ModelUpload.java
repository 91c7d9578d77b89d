package dev.selfsup.proto;

import com.google.protobuf.ByteString;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelManifest;
import io.grpc.stub.StreamObserver;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** An encoder bundle as the chunk stream ExportEncoder and PublishModel carry, and the client side of PublishModel. */
public final class ModelUpload {
    /** Bytes per data chunk: well under gRPC's default 4 MiB message limit. */
    public static final int CHUNK_BYTES = 1 << 20;

    private ModelUpload() {}

    /** The bundle's SHA-256 as the manifest carries it: 64 lower-case hex digits. */
    public static String sha256(byte[] bundle) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bundle));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The manifest (with size and SHA-256 filled in) and then the bytes in chunks of {@code chunkBytes}. */
    public static List<ModelChunk> chunks(byte[] bundle, ModelManifest.Builder manifest, int chunkBytes) {
        List<ModelChunk> out = new ArrayList<>();
        out.add(ModelChunk.newBuilder()
                .setManifest(manifest.setSizeBytes(bundle.length).setSha256(sha256(bundle)))
                .build());
        for (int off = 0; off < bundle.length; off += chunkBytes) {
            out.add(ModelChunk.newBuilder()
                    .setData(ByteString.copyFrom(bundle, off, Math.min(chunkBytes, bundle.length - off)))
                    .build());
        }
        return out;
    }

    /** Sends the chunks to PublishModel; the future completes with the version the encoder-service made. */
    public static CompletableFuture<ModelInfo> publish(
            EncoderServiceGrpc.EncoderServiceStub stub, List<ModelChunk> chunks) {
        CompletableFuture<ModelInfo> result = new CompletableFuture<>();
        StreamObserver<ModelChunk> up = stub.publishModel(new StreamObserver<>() {
            @Override
            public void onNext(ModelInfo value) {
                result.complete(value);
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                result.completeExceptionally(new IllegalStateException("PublishModel ended without an answer"));
            }
        });
        chunks.forEach(up::onNext);
        up.onCompleted();
        return result;
    }
}
