package dev.selfsup.service;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Calls whose one request message never reached the service. The HTTP-port gRPC transport (vertx-grpc) refuses a
 * message over {@code quarkus.grpc.server.max-inbound-message-size} at its header (with the text of
 * {@link OversizedMessages}), skips its bytes, and then still hands the service the end of the request. Without
 * this interceptor, gRPC's unary handler answers that end INTERNAL ("half-closed without a request"), which fails
 * on the ended response and was logged as an internal error with its stack for every oversized message. Here such
 * a call is closed as refused for its size, which counts it; when the transport has answered already, that is all.
 */
@GlobalInterceptor
@ApplicationScoped
public class TransportRefusals implements ServerInterceptor, Prioritized {
    private static final Logger LOG = Logger.getLogger(TransportRefusals.class);

    @ConfigProperty(name = "quarkus.grpc.server.max-inbound-message-size", defaultValue = "4194304")
    long maxMessageBytes;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        ServerCall.Listener<Q> listener = next.startCall(call, headers);
        if (!call.getMethodDescriptor().getType().clientSendsOneMessage()) {
            return listener;
        }
        return new SimpleForwardingServerCallListener<>(listener) {
            private boolean received;

            @Override
            public void onMessage(Q message) {
                received = true;
                super.onMessage(message);
            }

            @Override
            public void onHalfClose() {
                if (received) {
                    super.onHalfClose();
                    return;
                }
                String method = call.getMethodDescriptor().getBareMethodName();
                try {
                    call.close(
                            Status.RESOURCE_EXHAUSTED.withDescription(method + " received no request message: "
                                    + "one over " + maxMessageBytes + " bytes "
                                    + "(quarkus.grpc.server.max-inbound-message-size) is refused unread; send "
                                    + "fewer images per request, or use the streaming call"),
                            new Metadata());
                } catch (IllegalStateException answered) {
                    // The transport ended the call already: it refused a message over the limit.
                    LOG.debugf(
                            "%s: a request message over %d bytes, refused by the transport", method, maxMessageBytes);
                }
            }
        };
    }

    /** Inside {@link StatusMessages} and {@link RequestMetrics}, so the close is shortened and counted like any. */
    @Override
    public int getPriority() {
        return Integer.MAX_VALUE - 30;
    }
}
