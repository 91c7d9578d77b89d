package dev.selfsup.encoder;

import dev.selfsup.proto.v1.Image;
import dev.selfsup.service.ImageInputs;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The one way request images become embeddings, whichever API they came through (Embed, EmbedStream, the Open
 * Inference Protocol's ModelInfer by gRPC or REST): resolve the version, check and preprocess the images, queue them
 * on that version's dynamic batcher, count them.
 */
@ApplicationScoped
public class ImageEmbedder {
    /**
     * Embeddings of one request.
     *
     * @param values {@code count x dim} floats, image after image
     */
    public record Result(String model, int version, int dim, int count, float[] values) {}

    @Inject
    ModelRegistry registry;

    @Inject
    EncoderMetrics metrics;

    @ConfigProperty(name = "selfsup.encoder.max-request-images", defaultValue = "256")
    int maxRequestImages;

    /**
     * Checks, preprocesses and queues one request's images; the future completes when their batch has run.
     *
     * @param version 0 for the default version
     * @param field how the request names its images, for error messages
     * @param normalize scale each embedding to unit L2 norm
     */
    CompletableFuture<Result> embed(
            String model, int version, List<Image> images, String field, boolean normalize, BooleanSupplier abandoned) {
        EncoderCalls.requireModel(model);
        int n = images.size();
        for (int attempt = 0; ; attempt++) {
            ServedModel m = registry.serving(model, version);
            float[] pixels =
                    ImageInputs.toPixels(images, m.spec().channels(), m.spec().imageSize(), maxRequestImages, field);
            CompletableFuture<float[]> f;
            try {
                f = m.embed(pixels, n, abandoned);
            } catch (DynamicBatcher.ClosedException e) {
                // The version was retired between resolving and queueing: resolve again (a switch fails nothing).
                if (attempt < 2 && version == 0) {
                    continue;
                }
                throw Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException();
            }
            int dim = m.featureDim();
            String name = m.record().name();
            int served = m.record().version();
            return f.thenApply(values -> {
                metrics.imagesEmbedded(name, n);
                if (normalize) {
                    for (int i = 0; i < n; i++) {
                        Gallery.normalize(values, i * dim, dim);
                    }
                }
                return new Result(name, served, dim, n, values);
            });
        }
    }
}
