package dev.selfsup.encoder;

import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;
import dev.selfsup.core.io.Json;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelState;

/** Model versions as the API describes them. */
final class ModelInfos {
    private ModelInfos() {}

    /** The API's description of a version. */
    static ModelInfo of(ModelRegistry.Version v, ModelRegistry registry) {
        ModelStore.VersionRecord r = v.record();
        ModelInfo.Builder b = ModelInfo.newBuilder()
                .setName(r.name())
                .setVersion(r.version())
                .setState(
                        switch (v.state()) {
                            case LOADING -> ModelState.MODEL_STATE_LOADING;
                            case READY -> ModelState.MODEL_STATE_READY;
                            case FAILED -> ModelState.MODEL_STATE_FAILED;
                        })
                .setIsDefault(registry.isDefault(v))
                .setSha256(r.sha256())
                .setSizeBytes(r.sizeBytes())
                .setRunId(r.runId() == null ? "" : r.runId());
        if (r.publishedAt() != null) { // unknown for a version whose record cannot be read
            b.setPublishedAt(Timestamps.fromMillis(r.publishedAt().toEpochMilli()));
        }
        if (v.error() != null) {
            b.setError(v.error());
        }
        ServedModel m = v.model();
        if (m != null) {
            b.setFeatureDim(m.featureDim())
                    .setInputChannels(m.spec().channels())
                    .setInputSize(m.spec().imageSize())
                    .setBackbone(m.spec().toString())
                    .setLoadDuration(Durations.fromNanos(m.loadNanos()))
                    .setGallerySize(m.gallery().size());
            if (m.header().provenance() != null) {
                b.setProvenanceJson(Json.write(m.header().provenance()));
            }
        }
        return b.build();
    }
}
