package dev.selfsup.service.auth;

import dev.selfsup.client.TokenFile;
import dev.selfsup.proto.Roles;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The tokens this service accepts, and the roles each grants. From configuration ({@code selfsup.auth.reader-tokens},
 * {@code selfsup.auth.operator-tokens}) when set; else from the suite's token file, made on first start with new
 * random tokens, readable by its owner only, and read again when it changes (rotation without restart).
 */
@Startup
@Singleton
public class AccessTokens {
    private static final Logger LOG = Logger.getLogger(AccessTokens.class);
    /** How often at most the token file is checked for a change. */
    private static final long RELOAD_CHECK_NANOS = 1_000_000_000L;

    @ConfigProperty(name = "selfsup.auth.enabled", defaultValue = "true")
    boolean enabled;

    @ConfigProperty(name = "selfsup.auth.token-file", defaultValue = "var/auth/tokens")
    Path file;

    @ConfigProperty(name = "selfsup.auth.reader-tokens")
    Optional<List<String>> readerTokens;

    @ConfigProperty(name = "selfsup.auth.operator-tokens")
    Optional<List<String>> operatorTokens;

    private volatile Grants grants;
    /** SHA-256 of the token file as last read: a change of content, however quick, is seen (an mtime may not). */
    private volatile byte[] loadedVersion;

    private volatile long lastCheck;

    /** The digests of the accepted tokens, by role. */
    private record Grants(List<byte[]> reader, List<byte[]> operator, String firstOperator) {}

    @PostConstruct
    void init() {
        if (!enabled) {
            LOG.warn("Authentication is OFF (selfsup.auth.enabled=false): anyone who reaches this service can call"
                    + " every RPC, including those that delete runs and models. Use this on a trusted network only.");
            return;
        }
        if (readerTokens.isPresent() || operatorTokens.isPresent()) {
            grants = grants(readerTokens.orElse(List.of()), operatorTokens.orElse(List.of()));
            LOG.infof(
                    "Authentication on: %d reader and %d operator token(s) from the configuration",
                    readerTokens.map(List::size).orElse(0),
                    operatorTokens.map(List::size).orElse(0));
            return;
        }
        try {
            TokenFile.Created c = TokenFile.readOrCreate(file);
            if (TokenFile.writableByOthers(file)) {
                throw new IllegalStateException("Authentication is on and the token file "
                        + file.toAbsolutePath().normalize() + " or its folder can be written by other users: any of"
                        + " them could make themselves an operator. chmod 600 the file and go-w its folder.");
            }
            grants = grants(c.tokens().reader(), c.tokens().operator());
            loadedVersion = sha256(Files.readAllBytes(file));
            lastCheck = System.nanoTime();
            Path where = file.toAbsolutePath().normalize();
            if (c.created()) {
                LOG.infof(
                        "Authentication on: made new access tokens in %s (readable by this user only). Clients read"
                                + " it, or take a token from it: --token / SELFSUP_TOKEN.",
                        where);
            } else {
                LOG.infof("Authentication on: tokens from %s", where);
            }
            if (TokenFile.openToOthers(file)) {
                LOG.warnf("The token file %s can be read by other users: chmod 600 it.", where);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "Authentication is on and the token file "
                            + file.toAbsolutePath().normalize()
                            + " cannot be read or made (" + e.getMessage() + "). Give selfsup.auth.token-file a"
                            + " writable place, or set selfsup.auth.reader-tokens and selfsup.auth.operator-tokens.",
                    e);
        }
    }

    /** False if authentication was turned off: then every caller has every role. */
    public boolean enabled() {
        return enabled;
    }

    /** The roles a token grants; empty if it is not one of ours. Takes the same time whatever the token. */
    public Set<String> rolesOf(String token) {
        Grants g = current();
        byte[] d = digest(token);
        boolean operator = false;
        boolean reader = false;
        for (byte[] t : g.operator()) {
            operator |= MessageDigest.isEqual(t, d);
        }
        for (byte[] t : g.reader()) {
            reader |= MessageDigest.isEqual(t, d);
        }
        if (operator) {
            return Set.of(Roles.OPERATOR, Roles.READER);
        }
        return reader ? Set.of(Roles.READER) : Set.of();
    }

    /** The token this service sends when it calls another service of the suite (the trainer does). */
    public Optional<String> operatorToken() {
        return enabled ? Optional.ofNullable(current().firstOperator()) : Optional.empty();
    }

    /** Where a client finds the tokens, for messages: the file's name, never the server's full path. */
    public String whereToFind() {
        if (readerTokens.isPresent() || operatorTokens.isPresent()) {
            return "ask the operator of this service for a token";
        }
        return "the tokens are in the token file '" + file.getFileName() + "' of the service's state directory";
    }

    private Grants current() {
        Grants g = grants;
        if (g == null) {
            throw new IllegalStateException("authentication is off");
        }
        if (loadedVersion != null && System.nanoTime() - lastCheck > RELOAD_CHECK_NANOS) {
            lastCheck = System.nanoTime();
            reloadIfChanged();
            g = grants;
        }
        return g;
    }

    private synchronized void reloadIfChanged() {
        try {
            byte[] content = Files.readAllBytes(file);
            byte[] now = sha256(content);
            if (!MessageDigest.isEqual(now, loadedVersion)) {
                if (TokenFile.writableByOthers(file)) {
                    // Checked at every reload too: tokens written by another user are never taken.
                    LOG.errorf("Token file changed but it or its folder can be written by other users; its new tokens"
                            + " are NOT taken, the tokens read before stay in use. chmod 600 the file and go-w"
                            + " its folder.");
                    return;
                }
                TokenFile.Tokens t = TokenFile.parse(content);
                grants = grants(t.reader(), t.operator());
                loadedVersion = now;
                LOG.infof(
                        "Token file changed: now %d reader and %d operator token(s)",
                        t.reader().size(), t.operator().size());
            }
        } catch (IOException e) {
            // A file being rewritten or briefly gone: keep the tokens we have, and say so.
            LOG.warnf("Token file cannot be read (%s); the tokens read before stay in use", e.getMessage());
        }
    }

    private static Grants grants(List<String> reader, List<String> operator) {
        return new Grants(digests(reader), digests(operator), operator.isEmpty() ? null : operator.get(0));
    }

    private static List<byte[]> digests(List<String> tokens) {
        List<byte[]> out = new ArrayList<>();
        for (String t : tokens) {
            if (!t.isBlank()) {
                out.add(digest(t.strip()));
            }
        }
        return out;
    }

    /** Tokens are compared as SHA-256 digests: same length whatever the input, compared in constant time. */
    private static byte[] digest(String token) {
        return sha256(token.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
