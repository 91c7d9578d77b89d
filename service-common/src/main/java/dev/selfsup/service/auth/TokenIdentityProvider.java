package dev.selfsup.service.auth;

import dev.selfsup.proto.Roles;
import io.quarkus.security.AuthenticationFailedException;
import io.quarkus.security.identity.AuthenticationRequestContext;
import io.quarkus.security.identity.IdentityProvider;
import io.quarkus.security.identity.SecurityIdentity;
import io.quarkus.security.identity.request.TokenAuthenticationRequest;
import io.quarkus.security.runtime.QuarkusPrincipal;
import io.quarkus.security.runtime.QuarkusSecurityIdentity;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.Set;

/**
 * Turns a bearer token into an identity with its roles ({@link AccessTokens}), or refuses it. With authentication
 * off, every caller is an operator. The check is a lookup in memory: it answers at once, on the calling thread.
 */
@Singleton
public class TokenIdentityProvider implements IdentityProvider<TokenAuthenticationRequest> {
    @Inject
    AccessTokens tokens;

    @Override
    public Class<TokenAuthenticationRequest> getRequestType() {
        return TokenAuthenticationRequest.class;
    }

    @Override
    public Uni<SecurityIdentity> authenticate(
            TokenAuthenticationRequest request, AuthenticationRequestContext context) {
        if (!tokens.enabled()) {
            return Uni.createFrom().item(identity("anonymous", Set.of(Roles.READER, Roles.OPERATOR)));
        }
        Set<String> roles = tokens.rolesOf(request.getToken().getToken());
        if (roles.isEmpty()) {
            return Uni.createFrom().failure(new AuthenticationFailedException("unknown token"));
        }
        return Uni.createFrom().item(identity(roles.contains(Roles.OPERATOR) ? Roles.OPERATOR : Roles.READER, roles));
    }

    private static SecurityIdentity identity(String name, Set<String> roles) {
        return QuarkusSecurityIdentity.builder()
                .setPrincipal(new QuarkusPrincipal(name))
                .addRoles(roles)
                .build();
    }
}
