package dev.selfsup.client;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * Sends a token with every call, as gRPC's convention has it: {@code authorization: Bearer <token>}. The token may
 * come from a source read at each call, so that a long-lived channel follows a rotated token.
 */
public final class BearerToken extends CallCredentials {
    /** The metadata key the services read the token from. */
    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final Supplier<String> token;

    /** A fixed token. */
    public BearerToken(String token) {
        this(() -> token);
    }

    /** The token {@code source} gives at each call; none is sent while it gives null or a blank. */
    public BearerToken(Supplier<String> source) {
        this.token = source;
    }

    @Override
    public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
        Metadata m = new Metadata();
        String t = token.get();
        if (t != null && !t.isBlank()) {
            m.put(AUTHORIZATION, "Bearer " + t);
        }
        applier.apply(m);
    }
}
