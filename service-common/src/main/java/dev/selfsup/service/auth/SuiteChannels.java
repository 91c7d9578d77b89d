package dev.selfsup.service.auth;

import dev.selfsup.client.ClientSecurity;
import io.grpc.ManagedChannelBuilder;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.nio.file.Path;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Channels from this service to another service of the suite (the trainer's calls to the encoder- and
 * tokenizer-services). They send {@code selfsup.client.token} if set, else this service's own operator token (the
 * services of one deployment share the token file), read at every call, so a token rotated in the file is followed
 * without a restart; and they speak TLS when {@code selfsup.client.tls-ca} is set.
 */
@Singleton
public class SuiteChannels {
    @Inject
    AccessTokens tokens;

    @ConfigProperty(name = "selfsup.client.token")
    Optional<String> token;

    @ConfigProperty(name = "selfsup.client.tls-ca")
    Optional<Path> ca;

    @ConfigProperty(name = "selfsup.client.tls-cert")
    Optional<Path> cert;

    @ConfigProperty(name = "selfsup.client.tls-key")
    Optional<Path> key;

    /** A builder of a channel to {@code host:port} with the token and TLS of this service's outgoing calls. */
    public ManagedChannelBuilder<?> to(String hostPort) {
        return new ClientSecurity(null, ca.orElse(null), cert.orElse(null), key.orElse(null))
                .channel(hostPort, this::currentToken);
    }

    /** The token an outgoing call sends now: the configured one, else this service's first operator token. */
    String currentToken() {
        return token.filter(x -> !x.isBlank()).or(tokens::operatorToken).orElse(null);
    }
}
