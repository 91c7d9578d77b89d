package dev.selfsup.service.auth;

import dev.selfsup.client.BearerToken;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.quarkus.grpc.auth.AuthExceptionHandler;
import io.quarkus.grpc.auth.AuthExceptionHandlerProvider;
import io.quarkus.security.AuthenticationException;
import io.quarkus.security.ForbiddenException;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

/**
 * The statuses of a refused call, with messages that say what to do: no token or one this service does not know is
 * UNAUTHENTICATED; a reader calling what needs an operator is PERMISSION_DENIED. (Quarkus's own handler gives
 * PERMISSION_DENIED to both, with messages in dev and test mode only.)
 */
@Singleton
public class AuthFailures implements AuthExceptionHandlerProvider {
    static final String NEEDS_OPERATOR = "this call starts, changes or deletes something and needs an operator token;"
            + " the token sent is a reader token, which may only read";

    @Inject
    AccessTokens tokens;

    @Override
    public int getPriority() {
        return DEFAULT_PRIORITY + 1;
    }

    @Override
    public <Q, R> AuthExceptionHandler<Q, R> createHandler(
            ServerCall.Listener<Q> listener, ServerCall<Q, R> call, Metadata metadata) {
        return new AuthExceptionHandler<>(listener, call, metadata) {
            @Override
            protected void handleException(Throwable e, ServerCall<Q, R> call, Metadata metadata) {
                if (handlesException(e)) {
                    call.close(status(e, metadata.get(BearerToken.AUTHORIZATION)), new Metadata());
                } else if (e instanceof RuntimeException r) {
                    throw r;
                } else {
                    throw new IllegalStateException(e);
                }
            }
        };
    }

    @Override
    public boolean handlesException(Throwable e) {
        return e instanceof AuthenticationException || e instanceof SecurityException;
    }

    /**
     * The status of an authentication or authorization failure.
     *
     * @param authorization the call's authorization metadata, or null
     */
    Status status(Throwable e, String authorization) {
        if (e instanceof ForbiddenException) {
            return Status.PERMISSION_DENIED.withDescription(NEEDS_OPERATOR);
        }
        return unauthenticated(authorization);
    }

    /**
     * UNAUTHENTICATED, saying why from what the call sent.
     *
     * @param authorization the call's authorization metadata, or null
     */
    Status unauthenticated(String authorization) {
        String why;
        if (authorization == null) {
            why = "this service needs a token: send the metadata 'authorization: Bearer <token>' (the selfsup CLI:"
                    + " --token or SELFSUP_TOKEN)";
        } else if (BearerTokenAuthentication.bearerToken(authorization) == null) {
            why = "the authorization metadata must be 'Bearer <token>'";
        } else {
            why = "the token is not valid for this service (mistyped, or rotated since)";
        }
        return Status.UNAUTHENTICATED.withDescription(why + "; " + tokens.whereToFind());
    }
}
