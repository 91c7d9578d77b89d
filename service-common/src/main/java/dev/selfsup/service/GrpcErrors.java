package dev.selfsup.service;

import dev.selfsup.core.method.UnsuitableDataException;
import dev.selfsup.core.numerics.NumericsCheckFailedException;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.ExceptionHandler;
import io.quarkus.grpc.ExceptionHandlerProvider;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.jboss.logging.Logger;

/**
 * The one mapping from exceptions to gRPC statuses, for every call of every service: Quarkus hands each failed
 * call to this bean. A client gets a status it can act on and a message meant for a person: never UNKNOWN, never
 * a Java class name. What a client cannot act on (a bug) is INTERNAL with an id that the server's log repeats
 * next to the full exception.
 */
@ApplicationScoped
public class GrpcErrors implements ExceptionHandlerProvider {
    private static final Logger LOG = Logger.getLogger(GrpcErrors.class);

    @Override
    public <Q, R> ExceptionHandler<Q, R> createHandler(
            ServerCall.Listener<Q> listener, ServerCall<Q, R> call, Metadata metadata) {
        return new ExceptionHandler<>(listener, call, metadata) {
            @Override
            protected void handleException(Throwable t, ServerCall<Q, R> c, Metadata m) {
                try {
                    c.close(toStatus(t), m);
                } catch (IllegalStateException alreadyClosed) {
                    // The call ended meanwhile (cancelled by the client): nobody is listening.
                }
            }
        };
    }

    @Override
    public Throwable transform(Throwable t) {
        return toStatus(t).asRuntimeException();
    }

    /** The status a client gets for {@code t}. */
    public static Status toStatus(Throwable t) {
        Throwable e = t;
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        if (e instanceof StatusRuntimeException s) {
            return s.getStatus();
        }
        if (e instanceof StatusException s) {
            return s.getStatus();
        }
        if (e instanceof Refusal r) {
            Status status = switch (r.reason()) {
                case NOT_FOUND -> Status.NOT_FOUND;
                case EXISTS -> Status.ALREADY_EXISTS;
                case WRONG_STATE -> Status.FAILED_PRECONDITION;
                case QUOTA -> Status.RESOURCE_EXHAUSTED;
                case INVALID -> Status.INVALID_ARGUMENT;
                case UNAVAILABLE -> Status.UNAVAILABLE;
            };
            return status.withDescription(r.getMessage());
        }
        if (e instanceof CancellationException) {
            return Status.CANCELLED.withDescription("cancelled");
        }
        if (e instanceof NumericsCheckFailedException || e instanceof UnsuitableDataException) {
            return Status.FAILED_PRECONDITION.withDescription(e.getMessage());
        }
        if (e instanceof IllegalArgumentException) {
            return Status.INVALID_ARGUMENT.withDescription(e.getMessage());
        }
        String id = UUID.randomUUID().toString().substring(0, 8);
        if (e instanceof IOException || e instanceof UncheckedIOException) {
            LOG.errorf(e, "storage error %s", id);
            return Status.UNAVAILABLE.withDescription("the server could not read or write its storage (full or "
                    + "read-only disk?); try again later, or give the operator error id " + id);
        }
        if (e instanceof OutOfMemoryError) {
            LOG.errorf(e, "out of memory %s", id);
            return Status.RESOURCE_EXHAUSTED.withDescription(
                    "the server ran out of memory; send fewer or smaller " + "images per call (error id " + id + ")");
        }
        LOG.errorf(e, "internal error %s", id);
        return Status.INTERNAL.withDescription("internal error " + id + "; the server's log has the details");
    }
}
