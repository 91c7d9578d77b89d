package dev.selfsup.service.auth;

import dev.selfsup.client.BearerToken;
import dev.selfsup.service.StatusMessages;
import io.grpc.Status;
import io.quarkus.vertx.http.runtime.filters.Filters;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

/**
 * The first look at every gRPC call on a service's port, from its headers alone, before a byte of its body is read.
 *
 * <ul>
 *   <li><b>Compressed messages are refused.</b> The gRPC transport checks the message-size limit against a message's
 *       compressed length and then inflates it without bound: 1 MiB of gzip becomes 700 MiB of heap and takes the
 *       process down (measured, docs/security.md). A call that declares a {@code grpc-encoding} other than
 *       {@code identity} gets UNIMPLEMENTED and {@code grpc-accept-encoding: identity}, as the gRPC protocol asks.
 *       Without that header a compressed message is already refused by the transport, and with
 *       {@code identity} its compressed flag is ignored (read as plain bytes), so nothing is ever inflated.</li>
 *   <li><b>No token, no call.</b> A call without a valid token is refused with UNAUTHENTICATED here, before its
 *       request is received and parsed, whatever the method (server reflection too); only {@code grpc.health.v1}
 *       answers everyone. Which role a method needs is still decided on the method ({@code @RolesAllowed}).</li>
 * </ul>
 *
 * Refusals are gRPC "trailers-only" answers (HTTP 200 with {@code grpc-status} and {@code grpc-message}), so every
 * client shows the status and its message, never a bare HTTP error.
 */
@Singleton
public class GrpcCallGate {
    /** Before Quarkus's authentication (-200) and every route: a filter's order is minus its priority. */
    static final int PRIORITY = 300;

    static final String HEALTH_PREFIX = "/grpc.health.v1.Health/";

    static final String COMPRESSION_REFUSED = "this service takes uncompressed messages only: the call declared"
            + " grpc-encoding '%s'; turn message compression off in the client (a compressed message could expand far"
            + " past the message-size limit)";

    @Inject
    AccessTokens tokens;

    @Inject
    AuthFailures failures;

    void register(@Observes Filters filters) {
        filters.register(this::check, PRIORITY);
    }

    void check(RoutingContext rc) {
        HttpServerRequest request = rc.request();
        if (!isGrpc(request)) {
            rc.next();
            return;
        }
        String encoding = request.getHeader("grpc-encoding");
        if (encoding != null && !encoding.equalsIgnoreCase("identity")) {
            refuse(rc, Status.UNIMPLEMENTED.withDescription(String.format(COMPRESSION_REFUSED, shortened(encoding))));
            return;
        }
        if (tokens.enabled() && !request.path().startsWith(HEALTH_PREFIX)) {
            String authorization = request.getHeader(BearerToken.AUTHORIZATION.name());
            String token = BearerTokenAuthentication.bearerToken(authorization);
            if (token == null || tokens.rolesOf(token).isEmpty()) {
                refuse(rc, failures.unauthenticated(authorization));
                return;
            }
        }
        rc.next();
    }

    /** As Quarkus's gRPC route decides: HTTP/2 with a gRPC content type. */
    static boolean isGrpc(HttpServerRequest request) {
        if (request.version() != HttpVersion.HTTP_2) {
            return false;
        }
        String type = request.getHeader("content-type");
        return type != null && type.regionMatches(true, 0, "application/grpc", 0, "application/grpc".length());
    }

    /** A trailers-only gRPC answer: the status in the one HEADERS frame, which ends the stream. */
    static void refuse(RoutingContext rc, Status status) {
        HttpServerResponse response = rc.response();
        if (response.ended() || response.closed()) {
            return;
        }
        response.setStatusCode(200)
                .putHeader("content-type", "application/grpc")
                .putHeader("grpc-accept-encoding", "identity")
                .putHeader("grpc-status", Integer.toString(status.getCode().value()));
        if (status.getDescription() != null) {
            response.putHeader("grpc-message", StatusMessages.encode(status.getDescription()));
        }
        response.end();
    }

    /** A header value a client sent, cut to a length fit for a message. */
    private static String shortened(String value) {
        return value.length() <= 40 ? value : value.substring(0, 40) + "... (" + value.length() + " characters)";
    }
}
