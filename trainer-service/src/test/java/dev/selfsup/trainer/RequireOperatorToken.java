package dev.selfsup.trainer;

import dev.selfsup.client.BearerToken;
import dev.selfsup.service.testing.AccessMatrix;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * What the real encoder- and tokenizer-services do to the trainer's calls, for the fake ones: a call without the
 * test profile's operator token is refused, so a trainer that stopped sending it fails the tests.
 */
final class RequireOperatorToken implements ServerInterceptor {
    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (!("Bearer " + AccessMatrix.OPERATOR_TOKEN).equals(headers.get(BearerToken.AUTHORIZATION))) {
            call.close(
                    Status.UNAUTHENTICATED.withDescription("the fake service wants the operator token"),
                    new Metadata());
            return new ServerCall.Listener<>() {};
        }
        return next.startCall(call, headers);
    }
}
