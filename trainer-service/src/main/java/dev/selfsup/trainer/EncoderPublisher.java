package dev.selfsup.trainer;

import dev.selfsup.proto.ModelUpload;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.service.GrpcErrors;
import dev.selfsup.service.auth.SuiteChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Sends finished encoders to the encoder-service over gRPC (its PublishModel), so trainer and encoder-service can
 * run on different hosts with no shared disk. Off when no address is configured.
 */
@ApplicationScoped
public class EncoderPublisher {
    /** host:port of the encoder-service, e.g. "encoder-service:8082"; empty: do not publish. */
    @ConfigProperty(name = "selfsup.trainer.encoder-service")
    Optional<String> address;

    @ConfigProperty(name = "selfsup.trainer.publish-timeout", defaultValue = "PT5M")
    Duration timeout;

    @Inject
    SuiteChannels suite;

    private ManagedChannel channel;

    public boolean enabled() {
        return address.filter(a -> !a.isBlank()).isPresent();
    }

    public String address() {
        return address.orElse("");
    }

    private synchronized ManagedChannel channel() {
        if (channel == null) {
            String a = address.orElseThrow();
            try {
                channel = suite.to(a).build();
            } catch (IllegalArgumentException e) {
                throw Status.FAILED_PRECONDITION
                        .withDescription("selfsup.trainer.encoder-service: " + e.getMessage())
                        .asRuntimeException();
            }
        }
        return channel;
    }

    @PreDestroy
    synchronized void close() {
        if (channel != null) {
            channel.shutdownNow();
        }
    }

    /**
     * Publishes a bundle as a new version of {@code modelName}; returns the version the encoder-service made.
     *
     * @throws StatusRuntimeException with the encoder-service's status, or FAILED_PRECONDITION when disabled
     */
    public ModelInfo publish(Path bundle, String modelName, String runId) {
        if (!enabled()) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("no encoder-service configured: set "
                            + "selfsup.trainer.encoder-service=host:port on the trainer")
                    .asRuntimeException();
        }
        List<ModelChunk> chunks = EncoderChunks.of(bundle, modelName, runId);
        CompletableFuture<ModelInfo> result = ModelUpload.publish(
                EncoderServiceGrpc.newStub(channel()).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS),
                chunks);
        try {
            return result.get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw GrpcErrors.toStatus(e.getCause()).asRuntimeException();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        } catch (TimeoutException e) {
            throw Status.DEADLINE_EXCEEDED
                    .withDescription("the encoder-service at " + address() + " did not answer " + "within " + timeout)
                    .asRuntimeException();
        }
    }
}
