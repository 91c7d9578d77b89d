package dev.selfsup.service;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.Cancellable;

/**
 * Sends a stream of events (a Mutiny {@link Multi}, as the registries produce them) as a server-streaming answer:
 * each event in order, a failure mapped by {@link GrpcCalls}, and the subscription cancelled when the client goes
 * away, so a watcher that hung up holds nothing on the server.
 */
public final class StreamReplies {
    private StreamReplies() {}

    /** Subscribes to {@code events} and forwards them to {@code out}. */
    public static <T> void forward(Multi<T> events, StreamObserver<T> out, GrpcCalls calls) {
        Cancellable subscription = events.subscribe().with(out::onNext, e -> calls.fail(out, e), () -> {
            try {
                out.onCompleted();
            } catch (IllegalStateException alreadyClosed) {
                // The client cancelled meanwhile.
            }
        });
        if (out instanceof ServerCallStreamObserver<T> call) {
            call.setOnCancelHandler(subscription::cancel);
        }
    }
}
