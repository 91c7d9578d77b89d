package dev.selfsup.service;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.MessageSizeOverflowException;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * A request message over {@code quarkus.grpc.server.max-inbound-message-size} is refused with a message a person
 * can act on: its size, the limit, and what to send instead.
 *
 * <p>The HTTP-port transport (vertx-grpc 4.5) refuses such a message as soon as its 5-byte header gives the
 * length, and skips its bytes without keeping them, which is the cheapest refusal there is; but it answers
 * RESOURCE_EXHAUSTED with no text, in every 4.5 release, before any interceptor could see the call. It does give
 * its request object a replaceable handler for invalid messages, and the gRPC bridge keeps that object in the
 * call it hands the first interceptor. This interceptor, the outermost, takes it from there ({@link TransportCalls})
 * and installs a handler that answers the same status with text. Should a vertx-grpc release hide the
 * object, the transport's own refusal stays in force, this logs that once, and {@code EncoderServiceTest} fails
 * on the missing text.
 */
@GlobalInterceptor
@ApplicationScoped
public class OversizedMessages implements ServerInterceptor, Prioritized {
    private static final Logger LOG = Logger.getLogger(OversizedMessages.class);

    private final AtomicBoolean reportedMissing = new AtomicBoolean();

    @ConfigProperty(name = "quarkus.grpc.server.max-inbound-message-size", defaultValue = "4194304")
    long maxMessageBytes;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        GrpcServerRequest<?, ?> request = transportRequest(call);
        if (request != null) {
            String method = call.getMethodDescriptor().getBareMethodName();
            request.invalidMessageHandler(invalid -> {
                if (invalid instanceof MessageSizeOverflowException overflow) {
                    refuse(request.response(), message(method, overflow.messageSize(), maxMessageBytes));
                } else {
                    request.response().cancel();
                }
            });
        }
        return next.startCall(call, headers);
    }

    /** What a client reads when its message of {@code size} bytes is over {@code limit}. */
    public static String message(String method, long size, long limit) {
        return String.format(
                Locale.ROOT,
                "%s: a request message of %,d bytes is over this service's limit of %,d bytes per message "
                        + "(quarkus.grpc.server.max-inbound-message-size); send fewer images per request, use the "
                        + "streaming call (EmbedStream, TokenizeStream: each message has the same limit), or "
                        + "upload files in chunks",
                method,
                size,
                limit);
    }

    /** The same answer as the transport's, RESOURCE_EXHAUSTED ending the call, with text. */
    private static void refuse(GrpcServerResponse<?, ?> response, String text) {
        try {
            response.status(GrpcStatus.RESOURCE_EXHAUSTED);
            // In the trailers as StatusMessages writes them: the transport's own encoding is a URL's, which some
            // clients show undecoded.
            response.trailers().set("grpc-message", StatusMessages.encode(text));
            response.end();
        } catch (IllegalStateException ended) {
            // The call ended already (an answer, or a refused earlier message of the same stream).
        }
    }

    private GrpcServerRequest<?, ?> transportRequest(ServerCall<?, ?> call) {
        Optional<GrpcServerRequest<?, ?>> request = TransportCalls.request(call);
        if (request.isEmpty() && reportedMissing.compareAndSet(false, true)) {
            LOG.warnf(
                    "gRPC calls (%s) do not expose the transport's request: a message over %d bytes is still refused, "
                            + "but without a message saying why",
                    call.getClass().getName(), maxMessageBytes);
        }
        return request.orElse(null);
    }

    /**
     * Outside every other interceptor: Quarkus's duplicated-context interceptor ({@code Integer.MAX_VALUE - 5})
     * starts the inner ones only at the call's first event, which may be the oversized message itself.
     */
    @Override
    public int getPriority() {
        return Integer.MAX_VALUE - 1;
    }
}
