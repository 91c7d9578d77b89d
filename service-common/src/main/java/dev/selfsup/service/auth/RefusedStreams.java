package dev.selfsup.service.auth;

import dev.selfsup.client.BearerToken;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.inject.spi.Prioritized;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

/**
 * Refuses a streaming call whose role check failed. gRPC invokes a client- or bidi-streaming method as the call
 * starts, so its {@code @RolesAllowed} check throws out of the interceptor chain, past Quarkus's handler of security
 * failures, which only sees the listener's events; the call would end INTERNAL. This interceptor sits outside
 * Quarkus's security interceptor and answers such a failure with {@link AuthFailures}'s status.
 */
@GlobalInterceptor
@Singleton
public class RefusedStreams implements ServerInterceptor, Prioritized {
    @Inject
    AuthFailures failures;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        try {
            return next.startCall(call, headers);
        } catch (RuntimeException e) {
            if (!failures.handlesException(e)) {
                throw e;
            }
            call.close(failures.status(e, headers.get(BearerToken.AUTHORIZATION)), new Metadata());
            return new ServerCall.Listener<>() {};
        }
    }

    /** Outside Quarkus's security interceptor ({@code Integer.MAX_VALUE - 100}): higher runs first. */
    @Override
    public int getPriority() {
        return Integer.MAX_VALUE - 50;
    }
}
