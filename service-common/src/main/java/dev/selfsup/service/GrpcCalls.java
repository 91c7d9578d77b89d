package dev.selfsup.service;

import dev.selfsup.core.engine.EngineThreads;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * How a service runs its calls: the pool where blocking or CPU-heavy work goes (never the event loop), and one way
 * to answer a call and to map its failure to a status. Every service of the suite runs its gRPC methods through one
 * of these; {@link RequestMetrics} counts them.
 */
public class GrpcCalls implements AutoCloseable {
    private final ExecutorService work;
    private final Function<Throwable, StatusRuntimeException> ownFailures;

    /**
     * @param poolName the name of the pool's threads
     * @param threads the pool's size
     * @param ownFailures the status of a failure particular to the service, or null to use {@link GrpcErrors}
     */
    public GrpcCalls(String poolName, int threads, Function<Throwable, StatusRuntimeException> ownFailures) {
        this.work = Executors.newFixedThreadPool(threads, EngineThreads.factory(poolName));
        this.ownFailures = ownFailures;
    }

    /** The pool for decoding, loading, training and other work that must not run on an event loop. */
    public ExecutorService pool() {
        return work;
    }

    /** Runs work that blocks or takes CPU on this service's pool, keeping the gRPC context (deadline, cancel). */
    public void offload(Runnable task) {
        work.execute(Context.current().wrap(task));
    }

    /** Runs a quick call on the calling thread: answers it, or maps its failure. */
    public <T> void unary(StreamObserver<T> out, Supplier<T> body) {
        T r;
        try {
            r = body.get();
        } catch (RuntimeException | Error e) {
            fail(out, e);
            return;
        }
        out.onNext(r);
        out.onCompleted();
    }

    /** Runs a call that blocks (disk, locks, the engine) on the pool: answers it, or maps its failure. */
    public <T> void blocking(StreamObserver<T> out, Supplier<T> body) {
        offload(() -> unary(out, body));
    }

    /** True once the client no longer wants the answer: it cancelled, or the call's deadline passed. */
    public static BooleanSupplier abandoned(StreamObserver<?> out) {
        Context ctx = Context.current();
        Deadline deadline = DeadlineInterceptor.DEADLINE.get(ctx);
        ServerCallStreamObserver<?> call = out instanceof ServerCallStreamObserver<?> s ? s : null;
        return () ->
                ctx.isCancelled() || (deadline != null && deadline.isExpired()) || (call != null && call.isCancelled());
    }

    /** Ends a call with the status its failure maps to. */
    public void fail(StreamObserver<?> out, Throwable e) {
        StatusRuntimeException s = toStatus(e);
        try {
            out.onError(s);
        } catch (IllegalStateException alreadyClosed) {
            // The call was cancelled meanwhile; nobody is listening.
        }
    }

    /** The status of a failure: the service's own mapping first, then the shared one ({@link GrpcErrors}). */
    public StatusRuntimeException toStatus(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        if (e instanceof StatusRuntimeException s) {
            return s;
        }
        StatusRuntimeException own = ownFailures == null ? null : ownFailures.apply(e);
        return own != null ? own : GrpcErrors.toStatus(e).asRuntimeException();
    }

    /** An INVALID_ARGUMENT failure with a message for the client. */
    public static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    @Override
    public void close() {
        work.shutdownNow();
    }
}
