package dev.selfsup.service.auth;

import io.quarkus.security.credential.TokenCredential;
import io.quarkus.security.identity.IdentityProviderManager;
import io.quarkus.security.identity.SecurityIdentity;
import io.quarkus.security.identity.request.AuthenticationRequest;
import io.quarkus.security.identity.request.TokenAuthenticationRequest;
import io.quarkus.vertx.http.runtime.security.ChallengeData;
import io.quarkus.vertx.http.runtime.security.HttpAuthenticationMechanism;
import io.smallrye.mutiny.Uni;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.Set;

/**
 * Reads the caller's bearer token ({@code authorization: Bearer <token>}, gRPC's convention) from every request on
 * the service's port, gRPC calls included, and resolves it to an identity before the call starts: the roles on
 * the service methods ({@code @RolesAllowed}) are then checked on the event loop without blocking. (A
 * {@code GrpcSecurityMechanism} resolves the identity lazily, and a role check of a method that answers through a
 * {@code StreamObserver} on the event loop then fails.)
 *
 * <p>A missing or unknown token is not an error here: the caller stays anonymous, health and metrics answer, and
 * every gRPC method refuses with UNAUTHENTICATED and a message saying why ({@link AuthFailures}).
 */
@Singleton
public class BearerTokenAuthentication implements HttpAuthenticationMechanism {
    private static final String BEARER = "bearer ";

    @Inject
    AccessTokens tokens;

    @Inject
    AuthFailures failures;

    @Override
    public Uni<SecurityIdentity> authenticate(RoutingContext context, IdentityProviderManager identities) {
        String token = bearerToken(context.request().getHeader("authorization"));
        if (tokens.enabled() && token == null) {
            return Uni.createFrom().nullItem();
        }
        return identities
                .authenticate(new TokenAuthenticationRequest(new TokenCredential(token == null ? "" : token, "bearer")))
                .onFailure()
                .recoverWithNull();
    }

    /** The token of an authorization header, or null if it has none or is not a bearer token. */
    static String bearerToken(String header) {
        if (header == null || !header.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
            return null;
        }
        String t = header.substring(BEARER.length()).strip();
        return t.isEmpty() ? null : t;
    }

    @Override
    public Uni<ChallengeData> getChallenge(RoutingContext context) {
        return Uni.createFrom().item(new ChallengeData(401, "WWW-Authenticate", "Bearer"));
    }

    /**
     * A refusal on the HTTP routes guarded by a permission (the Open Inference REST form): 401 with a JSON body
     * {@code {"error": "..."}} that says what to send, as that protocol's errors are. (gRPC calls without a token are
     * refused earlier, with a gRPC status, by {@link GrpcCallGate}.)
     */
    @Override
    public Uni<Boolean> sendChallenge(RoutingContext context) {
        var response = context.response();
        if (!response.ended()) {
            String why = failures.unauthenticated(context.request().getHeader("authorization"))
                    .getDescription();
            response.setStatusCode(401)
                    .putHeader("WWW-Authenticate", "Bearer")
                    .putHeader("content-type", "application/json")
                    .end(new JsonObject().put("error", why).encode());
        }
        return Uni.createFrom().item(true);
    }

    @Override
    public Set<Class<? extends AuthenticationRequest>> getCredentialTypes() {
        return Set.of(TokenAuthenticationRequest.class);
    }
}
