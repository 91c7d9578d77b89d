package dev.selfsup.encoder;

import dev.selfsup.service.GrpcCalls;
import dev.selfsup.service.ModelNames;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.vertx.core.Vertx;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

/** How the encoder-service runs a call: the shared {@link GrpcCalls}, with the batcher's failures mapped. */
final class EncoderCalls extends GrpcCalls {
    EncoderCalls() {
        super("encoder-work", Math.max(2, Runtime.getRuntime().availableProcessors()), EncoderCalls::batcherStatus);
    }

    /**
     * Runs a unary call whose answer comes from a model's batcher: {@code start} checks and queues the request, on
     * the event loop when {@code inline} (work of microseconds, cheaper than the hop to the pool), else on this
     * service's pool; the answer is written on the call's event loop when its batch is done.
     *
     * @param start given whether the client still wants the answer, queues the work and returns its future
     */
    <R> void batched(StreamObserver<R> out, boolean inline, Function<BooleanSupplier, CompletableFuture<R>> start) {
        // Not @Blocking: Quarkus runs the blocking methods of one connection one after another, and clients share
        // connections. Decoding runs on this service's own pool instead, in parallel.
        BooleanSupplier abandoned = GrpcCalls.abandoned(out);
        io.vertx.core.Context connection = Vertx.currentContext();
        Runnable now = () -> {
            CompletableFuture<R> f;
            try {
                f = start.apply(abandoned);
            } catch (RuntimeException e) {
                fail(out, e);
                return;
            }
            answer(out, f, connection);
        };
        if (inline) {
            now.run();
        } else {
            pool().execute(Context.current().wrap(now));
        }
    }

    /**
     * Answers a unary call when {@code f} completes.
     *
     * @param connection the event loop of the call, if it came on one: the answer is written there in one task
     *     (headers, message and trailers), rather than from the batcher's thread, where each write would be a
     *     separate hop to the event loop
     */
    <T> void answer(StreamObserver<T> out, CompletableFuture<T> f, io.vertx.core.Context connection) {
        f.whenComplete((r, e) -> {
            Runnable answer = () -> {
                if (out instanceof ServerCallStreamObserver<?> call && call.isCancelled()) {
                    // The client reset the stream (deadline or cancel). Answering it from the event loop made
                    // Vert.x write on a stream Netty had already dropped, and Netty closed the whole connection
                    // (GOAWAY, PROTOCOL_ERROR) under every other call on it.
                    return;
                }
                if (e != null) {
                    fail(out, e);
                } else {
                    out.onNext(r);
                    out.onCompleted();
                }
            };
            if (connection == null || Vertx.currentContext() == connection) {
                answer.run();
            } else {
                connection.runOnContext(v -> answer.run());
            }
        });
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
