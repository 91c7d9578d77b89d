package dev.selfsup.encoder;

import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.service.GrpcCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;

/** One EmbedStream: responses in request order, a bounded number in flight. */
final class EmbedStreamPipeline implements StreamObserver<EmbedRequest> {
    private final ServerCallStreamObserver<EmbedResponse> out;
    private final EncoderCalls calls;
    private final BiFunction<EmbedRequest, BooleanSupplier, CompletableFuture<EmbedResponse>> start;
    private final ArrayDeque<CompletableFuture<EmbedResponse>> pending = new ArrayDeque<>();
    private boolean halfClosed;
    private boolean done;

    EmbedStreamPipeline(
            ServerCallStreamObserver<EmbedResponse> out,
            EncoderCalls calls,
            BiFunction<EmbedRequest, BooleanSupplier, CompletableFuture<EmbedResponse>> start) {
        this.out = out;
        this.calls = calls;
        this.start = start;
    }

    @Override
    public void onNext(EmbedRequest request) {
        BooleanSupplier abandoned = GrpcCalls.abandoned(out);
        CompletableFuture<EmbedResponse> f = CompletableFuture.supplyAsync(
                        () -> start.apply(request, abandoned), calls.pool())
                .thenCompose(x -> x);
        synchronized (this) {
            pending.add(f);
        }
        f.whenComplete((r, e) -> drain());
    }

    /** Writes finished responses in order while the client can take them; asks for one request per answer. */
    synchronized void drain() {
        while (!done && !pending.isEmpty() && pending.peek().isDone() && out.isReady()) {
            CompletableFuture<EmbedResponse> f = pending.poll();
            try {
                out.onNext(f.join());
                out.request(1);
            } catch (CompletionException e) {
                done = true;
                calls.fail(out, e);
                return;
            }
        }
        if (!done && halfClosed && pending.isEmpty()) {
            done = true;
            out.onCompleted();
        }
    }

    synchronized void cancel() {
        done = true;
        pending.forEach(f -> f.cancel(false));
    }

    @Override
    public void onError(Throwable t) {
        cancel();
    }

    @Override
    public void onCompleted() {
        synchronized (this) {
            halfClosed = true;
        }
        drain();
    }
}
