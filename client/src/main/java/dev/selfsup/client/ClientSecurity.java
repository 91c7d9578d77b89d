package dev.selfsup.client;

import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * How a client reaches a service of the suite: the token it sends, and TLS when a CA is given (with a client
 * certificate for mutual TLS). {@link #resolve} finds them the same way in every client: a flag, else an environment
 * variable, else the suite's token file.
 *
 * @param token the bearer token, or null to send none
 * @param caFile PEM certificates to trust (turns TLS on), or null for plaintext
 * @param certFile PEM client certificate for mutual TLS, or null
 * @param keyFile PEM private key of {@code certFile}, or null
 */
public record ClientSecurity(String token, Path caFile, Path certFile, Path keyFile) {
    /** Environment variable with the token. */
    public static final String TOKEN_ENV = "SELFSUP_TOKEN";
    /** Environment variable with the token file. */
    public static final String TOKEN_FILE_ENV = "SELFSUP_TOKEN_FILE";
    /** Environment variables for TLS: the CA to trust, and a client certificate and key for mutual TLS. */
    public static final String CA_ENV = "SELFSUP_TLS_CA";

    public static final String CERT_ENV = "SELFSUP_TLS_CERT";
    public static final String KEY_ENV = "SELFSUP_TLS_KEY";
    /** Where the services write their token file unless told otherwise (relative to the working directory). */
    public static final Path DEFAULT_TOKEN_FILE = Path.of("var", "auth", "tokens");

    public ClientSecurity {
        if ((certFile == null) != (keyFile == null)) {
            throw new IllegalArgumentException("a client certificate needs its key, and a key its certificate");
        }
        if (certFile != null && caFile == null) {
            throw new IllegalArgumentException("a client certificate is for TLS: give the CA to trust as well");
        }
    }

    /** A token over plaintext: for a service on this machine or a trusted network. */
    public static ClientSecurity token(String token) {
        return new ClientSecurity(token, null, null, null);
    }

    /** No token, no TLS. */
    public static ClientSecurity none() {
        return new ClientSecurity(null, null, null, null);
    }

    /**
     * The security of a client from its flags (any may be null) and environment. The token: {@code token}, else
     * {@value #TOKEN_ENV}, else the operator token (or, if it has none, the reader token) of the token file:
     * {@code tokenFile}, else {@value #TOKEN_FILE_ENV}, else {@link #DEFAULT_TOKEN_FILE} if it exists. TLS:
     * {@code ca} / {@value #CA_ENV}, mutual TLS with {@code cert} and {@code key} / {@value #CERT_ENV} and
     * {@value #KEY_ENV}.
     */
    public static ClientSecurity resolve(
            String token, Path tokenFile, Path ca, Path cert, Path key, Map<String, String> env) {
        return resolve(token, tokenFile, ca, cert, key, env, false);
    }

    /**
     * As {@link #resolve(String, Path, Path, Path, Path, Map)}; with {@code readOnly}, a token from the token file is
     * its reader token when it has one: a client that only reads does not carry the operator's.
     */
    public static ClientSecurity resolve(
            String token, Path tokenFile, Path ca, Path cert, Path key, Map<String, String> env, boolean readOnly) {
        String t = firstNonBlank(token, env.get(TOKEN_ENV));
        if (t == null) {
            Path file = tokenFile != null ? tokenFile : pathOf(env.get(TOKEN_FILE_ENV));
            boolean explicit = file != null;
            if (file == null) {
                file = DEFAULT_TOKEN_FILE;
            }
            t = tokenIn(file, explicit, readOnly).orElse(null);
        }
        return new ClientSecurity(
                t,
                ca != null ? ca : pathOf(env.get(CA_ENV)),
                cert != null ? cert : pathOf(env.get(CERT_ENV)),
                key != null ? key : pathOf(env.get(KEY_ENV)));
    }

    /**
     * The operator token of a token file, else its reader token (the reader token first when {@code readOnly});
     * empty if the file is absent and not required.
     */
    static Optional<String> tokenIn(Path file, boolean required, boolean readOnly) {
        if (!Files.exists(file)) {
            if (required) {
                throw new IllegalArgumentException("token file " + file + " does not exist");
            }
            return Optional.empty();
        }
        try {
            TokenFile.Tokens tokens = TokenFile.read(file);
            if (readOnly && !tokens.reader().isEmpty()) {
                return Optional.of(tokens.reader().get(0));
            }
            if (!tokens.operator().isEmpty()) {
                return Optional.of(tokens.operator().get(0));
            }
            return tokens.reader().stream().findFirst();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read token file " + file + ": " + e.getMessage(), e);
        }
    }

    /** True if calls go over TLS. */
    public boolean tls() {
        return caFile != null;
    }

    /** The credentials of a channel: TLS or plaintext, and the token on every call if there is one. */
    public ChannelCredentials channelCredentials() {
        ChannelCredentials transport = transportCredentials();
        return token == null ? transport : CompositeChannelCredentials.create(transport, new BearerToken(token));
    }

    /** TLS or plaintext, without a token. */
    private ChannelCredentials transportCredentials() {
        ChannelCredentials transport;
        if (caFile == null) {
            transport = InsecureChannelCredentials.create();
        } else {
            try {
                TlsChannelCredentials.Builder b =
                        TlsChannelCredentials.newBuilder().trustManager(caFile.toFile());
                if (certFile != null) {
                    b.keyManager(certFile.toFile(), keyFile.toFile());
                }
                transport = b.build();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the TLS files: " + e.getMessage(), e);
            }
        }
        return transport;
    }

    /** A channel to {@code host:port} with these credentials. */
    public ManagedChannel open(String hostPort) {
        return channel(hostPort).build();
    }

    /** A builder of a channel to {@code host:port} with these credentials, for more options. */
    public ManagedChannelBuilder<?> channel(String hostPort) {
        return channel(hostPort, channelCredentials());
    }

    /**
     * A builder of a channel to {@code host:port} with this TLS setting and the token {@code tokenSource} gives at
     * each call (not this record's token): a long-lived channel then follows a token rotated in a file.
     */
    public ManagedChannelBuilder<?> channel(String hostPort, Supplier<String> tokenSource) {
        return channel(
                hostPort, CompositeChannelCredentials.create(transportCredentials(), new BearerToken(tokenSource)));
    }

    private static ManagedChannelBuilder<?> channel(String hostPort, ChannelCredentials credentials) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0 || colon == hostPort.length() - 1) {
            throw new IllegalArgumentException("a service address is host:port, got '" + hostPort + "'");
        }
        int port;
        try {
            port = Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("a service address is host:port, got '" + hostPort + "'");
        }
        return Grpc.newChannelBuilderForAddress(hostPort.substring(0, colon), port, credentials);
    }

    private static String firstNonBlank(String a, String b) {
        if (a != null && !a.isBlank()) {
            return a.strip();
        }
        return b != null && !b.isBlank() ? b.strip() : null;
    }

    private static Path pathOf(String s) {
        return s == null || s.isBlank() ? null : Path.of(s);
    }
}
