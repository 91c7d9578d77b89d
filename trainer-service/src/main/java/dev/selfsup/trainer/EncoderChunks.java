package dev.selfsup.trainer;

import com.google.protobuf.ByteString;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.io.TensorArchive;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelManifest;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** An encoder bundle file as the stream both ExportEncoder and PublishModel carry: a manifest, then 1 MiB chunks. */
final class EncoderChunks {
    private static final int CHUNK = 1 << 20;

    private EncoderChunks() {}

    /** Reads the file once (bundles are small) and checks it is a readable archive before sending it anywhere. */
    static List<ModelChunk> of(Path file, String modelName, String runId) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            TensorArchive.Contents c = TensorArchive.read(new ByteArrayInputStream(bytes), file.toString());
            var header = Json.MAPPER.readTree(c.header());
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
            List<ModelChunk> out = new ArrayList<>();
            out.add(ModelChunk.newBuilder().setManifest(ModelManifest.newBuilder().setName(modelName)
                    .setSizeBytes(bytes.length).setSha256(sha).setRunId(runId)
                    .setProvenanceJson(header.path("provenance").toString())
                    .setFeatureDim(header.path("featureDim").asInt())).build());
            for (int off = 0; off < bytes.length; off += CHUNK) {
                out.add(ModelChunk.newBuilder()
                        .setData(ByteString.copyFrom(bytes, off, Math.min(CHUNK, bytes.length - off))).build());
            }
            return out;
        } catch (IOException e) {
            throw Status.DATA_LOSS.withDescription("encoder of run " + runId + " cannot be read: " + e.getMessage())
                    .asRuntimeException();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
