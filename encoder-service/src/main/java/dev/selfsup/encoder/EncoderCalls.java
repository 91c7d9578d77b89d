package dev.selfsup.encoder;

import dev.selfsup.service.GrpcErrors;
import dev.selfsup.service.ModelNames;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * How the encoder-service runs a call: the pool its blocking work goes to, and one way to answer, count and map
 * the failure of every call.
 */
final class EncoderCalls implements AutoCloseable {
    private final EncoderMetrics metrics;
    private final ExecutorService work = Executors.newFixedThreadPool(
            Math.max(2, Runtime.getRuntime().availableProcessors()), r -> {
                Thread t = new Thread(r, "encoder-work");
                t.setDaemon(true);
                return t;
            });

    EncoderCalls(EncoderMetrics metrics) {
        this.metrics = metrics;
    }

    /** The pool for decoding, loading and other work that must not run on an event loop. */
    ExecutorService pool() {
        return work;
    }

    /** Counts a call that succeeded. */
    void ok(String method, long t0) {
        metrics.request(method, "OK", System.nanoTime() - t0);
    }

    /** Counts a call the client gave up on before its answer. */
    void abandonedAnswer(String method, long t0, Throwable e) {
        metrics.request(method, e != null ? toStatus(e).getStatus().getCode().name() : "CANCELLED",
                System.nanoTime() - t0);
    }

    /** Runs work that blocks or takes CPU on this service's pool, keeping the gRPC context (deadline). */
    void offload(Runnable task) {
        work.execute(Context.current().wrap(task));
    }

    /** Runs a quick call here: answers it, counts it, maps its failure. */
    <T> void unary(StreamObserver<T> out, String method, java.util.function.Supplier<T> body) {
        long t0 = System.nanoTime();
        try {
            T r = body.get();
            out.onNext(r);
            out.onCompleted();
            ok(method, t0);
        } catch (RuntimeException e) {
            fail(out, method, t0, e);
        }
    }

    /** True once the client no longer wants the answer: it cancelled, or the call's deadline passed. */
    static BooleanSupplier abandoned(StreamObserver<?> out) {
        Context ctx = Context.current();
        io.grpc.Deadline deadline = DeadlineInterceptor.DEADLINE.get(ctx);
        ServerCallStreamObserver<?> call = out instanceof ServerCallStreamObserver<?> s ? s : null;
        return () -> ctx.isCancelled() || (deadline != null && deadline.isExpired())
                || (call != null && call.isCancelled());
    }

    /** Ends a call with the status its failure maps to, and counts it. */
    void fail(StreamObserver<?> out, String method, long t0, Throwable e) {
        StatusRuntimeException s = toStatus(e);
        metrics.request(method, s.getStatus().getCode().name(), System.nanoTime() - t0);
        try {
            out.onError(s);
        } catch (IllegalStateException alreadyClosed) {
            // The call was cancelled meanwhile; nobody is listening.
        }
    }

    /** The encoder's own failures (queue full, deadline passed, version retired), then the shared mapping. */
    static StatusRuntimeException toStatus(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        if (e instanceof StatusRuntimeException s) {
            return s;
        }
        if (e instanceof DynamicBatcher.QueueFullException) {
            return Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage()).asRuntimeException();
        }
        if (e instanceof DynamicBatcher.AbandonedException) {
            return Status.DEADLINE_EXCEEDED.withDescription(e.getMessage()).asRuntimeException();
        }
        if (e instanceof DynamicBatcher.ClosedException) {
            return Status.NOT_FOUND.withDescription(e.getMessage()).asRuntimeException();
        }
        return GrpcErrors.toStatus(e).asRuntimeException();
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

    static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    @Override
    public void close() {
        work.shutdownNow();
    }
}
