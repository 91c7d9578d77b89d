package dev.selfsup.trainer;

import dev.selfsup.core.io.Json;
import dev.selfsup.core.io.TensorArchive;
import dev.selfsup.proto.ModelUpload;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelManifest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.jboss.logging.Logger;

/** An encoder bundle file as the stream both ExportEncoder and PublishModel carry: a manifest, then 1 MiB chunks. */
final class EncoderChunks {
    private static final Logger LOG = Logger.getLogger(EncoderChunks.class);

    private EncoderChunks() {}

    /** Reads the file once (bundles are small) and checks it is a readable archive before sending it anywhere. */
    static List<ModelChunk> of(Path file, String modelName, String runId) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            TensorArchive.Contents c = TensorArchive.read(new ByteArrayInputStream(bytes), file.toString());
            var header = Json.MAPPER.readTree(c.header());
            return ModelUpload.chunks(
                    bytes,
                    ModelManifest.newBuilder()
                            .setName(modelName)
                            .setRunId(runId)
                            .setProvenanceJson(header.path("provenance").toString())
                            .setFeatureDim(header.path("featureDim").asInt()),
                    ModelUpload.CHUNK_BYTES);
        } catch (IOException e) {
            throw EncoderChunks.unreadable(runId, e);
        }
    }

    /** DATA_LOSS for a run's encoder file that cannot be read: why, for the client; which file, for the log. */
    static StatusRuntimeException unreadable(String runId, IOException e) {
        LOG.errorf(e, "the encoder of run %s cannot be read", runId);
        String why = String.valueOf(e.getMessage()).contains("checksum")
                ? "it failed its checksum (damaged on disk)"
                : "it is not a readable encoder bundle";
        return Status.DATA_LOSS
                .withDescription("the encoder of run " + runId + " cannot be read: " + why + "; the server's log "
                        + "names the file")
                .asRuntimeException();
    }
}
