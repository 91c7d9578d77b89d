package dev.selfsup.service.auth;

import io.quarkus.vertx.http.HttpServerOptionsCustomizer;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.http.HttpServerOptions;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Mutual TLS as a start-time switch ({@code selfsup.tls.client-auth=required}, set by the profile "mtls"): the TLS
 * handshake then fails for a client without a certificate signed by the trusted CA
 * ({@code quarkus.tls.trust-store.pem.certs}). Quarkus's own {@code quarkus.http.ssl.client-auth} is fixed when the
 * service is built, so the same build could not serve both ways.
 */
@Singleton
public class ClientCertificates implements HttpServerOptionsCustomizer {
    @ConfigProperty(name = "selfsup.tls.client-auth", defaultValue = "none")
    String clientAuth;

    @Override
    public void customizeHttpsServer(HttpServerOptions options) {
        switch (clientAuth) {
            case "required" -> options.setClientAuth(ClientAuth.REQUIRED);
            case "none" -> {
                // Quarkus's build-time setting stands.
            }
            default ->
                throw new IllegalArgumentException(
                        "selfsup.tls.client-auth must be 'required' or 'none', not '" + clientAuth + "'");
        }
    }
}
