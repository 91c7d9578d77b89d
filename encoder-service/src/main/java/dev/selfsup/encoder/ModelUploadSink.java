package dev.selfsup.encoder;

import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelManifest;
import dev.selfsup.service.GrpcErrors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * One PublishModel upload: the manifest first, then the bundle's bytes to a temporary file with their SHA-256;
 * when the client half-closes, the size and digest are checked and the version is published. Any failure removes
 * the file.
 */
final class ModelUploadSink implements StreamObserver<ModelChunk> {
    private final ModelRegistry registry;
    private final EncoderCalls calls;
    private final StreamObserver<ModelInfo> out;
    private final long maxModelBytes;
    private ModelManifest manifest;
    private Path file;
    private OutputStream stream;
    private MessageDigest sha;
    private long received;
    private boolean failed;

    ModelUploadSink(ModelRegistry registry, EncoderCalls calls, StreamObserver<ModelInfo> out, long maxModelBytes) {
        this.registry = registry;
        this.calls = calls;
        this.out = out;
        this.maxModelBytes = maxModelBytes;
    }

    @Override
    public void onNext(ModelChunk chunk) {
        if (failed) {
            return;
        }
        try {
            if (manifest == null) {
                if (!chunk.hasManifest()) {
                    throw EncoderCalls.invalid("the first chunk must be the manifest (name, size_bytes, sha256)");
                }
                manifest = chunk.getManifest();
                EncoderCalls.requireModel(manifest.getName());
                if (manifest.getSizeBytes() <= 0) {
                    throw EncoderCalls.invalid("manifest.size_bytes must be the bundle's size in bytes");
                }
                if (manifest.getSizeBytes() > maxModelBytes) {
                    throw Status.RESOURCE_EXHAUSTED
                            .withDescription("the bundle is " + manifest.getSizeBytes()
                                    + " bytes; this service takes at most " + maxModelBytes
                                    + " (selfsup.encoder.max-model-bytes)")
                            .asRuntimeException();
                }
                if (!manifest.getSha256().matches("[0-9a-fA-F]{64}")) {
                    throw EncoderCalls.invalid("manifest.sha256 must be the bundle's SHA-256 as 64 hex digits");
                }
                file = registry.newUploadFile();
                stream = Files.newOutputStream(file);
                sha = MessageDigest.getInstance("SHA-256");
                return;
            }
            if (!chunk.hasData()) {
                throw EncoderCalls.invalid("only the first chunk may be a manifest");
            }
            received += chunk.getData().size();
            if (received > manifest.getSizeBytes()) {
                throw EncoderCalls.invalid(
                        "received more than the manifest's size_bytes (" + manifest.getSizeBytes() + ")");
            }
            chunk.getData().writeTo(stream);
            sha.update(chunk.getData().asReadOnlyByteBuffer());
        } catch (StatusRuntimeException e) {
            abort(e);
        } catch (IOException | NoSuchAlgorithmException e) {
            abort(GrpcErrors.toStatus(e).asRuntimeException()); // UNAVAILABLE: the disk, not the client
        }
    }

    private void abort(StatusRuntimeException e) {
        failed = true;
        cleanup();
        calls.fail(out, e);
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
            abort(EncoderCalls.invalid("no chunks: send the manifest, then the bundle's bytes"));
            return;
        }
        try {
            stream.close();
        } catch (IOException e) {
            abort(GrpcErrors.toStatus(e).asRuntimeException()); // UNAVAILABLE: the disk, not the client
            return;
        }
        if (received != manifest.getSizeBytes()) {
            abort(EncoderCalls.invalid("received " + received + " bytes but the manifest says "
                    + manifest.getSizeBytes() + "; the upload was cut short"));
            return;
        }
        String digest = HexFormat.of().formatHex(sha.digest());
        if (!digest.equalsIgnoreCase(manifest.getSha256())) {
            abort(EncoderCalls.invalid("SHA-256 mismatch: the manifest says " + manifest.getSha256()
                    + ", the bytes are " + digest + "; the bundle was corrupted in transit"));
            return;
        }
        // Loading takes a while and touches the device: off the event loop.
        calls.pool().execute(() -> {
            try {
                ModelRegistry.Version v =
                        registry.publish(manifest.getName(), file, digest.toLowerCase(), received, manifest.getRunId());
                out.onNext(ModelInfos.of(v, registry));
                out.onCompleted();
            } catch (RuntimeException e) {
                cleanup();
                calls.fail(out, e);
            }
        });
    }
}
