package dev.selfsup.encoder;

import dev.selfsup.service.GrpcCalls;
import dev.selfsup.service.ModelNames;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** How the encoder-service runs a call: the shared {@link GrpcCalls}, with the batcher's failures mapped. */
final class EncoderCalls extends GrpcCalls {
    EncoderCalls() {
        super("encoder-work", Math.max(2, Runtime.getRuntime().availableProcessors()), EncoderCalls::batcherStatus);
    }

    /** The batcher's failures: queue full, deadline passed, version retired. */
    private static StatusRuntimeException batcherStatus(Throwable e) {
        if (e instanceof DynamicBatcher.QueueFullException) {
            return Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage()).asRuntimeException();
        }
        if (e instanceof DynamicBatcher.AbandonedException) {
            return Status.DEADLINE_EXCEEDED.withDescription(e.getMessage()).asRuntimeException();
        }
        if (e instanceof DynamicBatcher.ClosedException) {
            return Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException();
        }
        return null;
    }

    /** A model name as the API allows it, else INVALID_ARGUMENT. */
    static void requireModel(String name) {
        if (name.isEmpty()) {
            throw invalid("model is empty: name the model to use (ListModels shows them)");
        }
        if (!ModelNames.valid(name)) {
            throw invalid("model name '" + name + "' is not valid: use 1 to 64 of a-z, 0-9, '.', '_' and '-', "
                    + "starting with a letter or digit");
        }
    }
}
