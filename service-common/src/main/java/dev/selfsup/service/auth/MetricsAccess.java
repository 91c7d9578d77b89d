package dev.selfsup.service.auth;

import dev.selfsup.client.BearerToken;
import dev.selfsup.client.TokenFile;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * An opt-in bearer token on {@code /q/metrics}. Metrics carry model names, tokenizer names and run ids as labels;
 * where the port is reachable by more than the scraper, set {@code selfsup.metrics.tokens} (e.g. from a Secret) or
 * {@code selfsup.metrics.token-file}, and only a request with one of those tokens is answered. The file, if it does
 * not exist, is made with a new random token, readable by all (a scraper such as Prometheus runs as another user);
 * it grants reading metrics and nothing else. Unset (the default), metrics stay open as before.
 */
@ApplicationScoped
public class MetricsAccess {
    private static final Logger LOG = Logger.getLogger(MetricsAccess.class);

    @ConfigProperty(name = "selfsup.metrics.tokens")
    Optional<List<String>> configuredTokens;

    @ConfigProperty(name = "selfsup.metrics.token-file")
    Optional<String> tokenFile;

    private volatile List<byte[]> tokens = List.of();

    void start(@Observes StartupEvent e) {
        List<byte[]> t = new ArrayList<>();
        configuredTokens.ifPresent(list -> list.stream()
                .filter(s -> !s.isBlank())
                .forEach(s -> t.add(s.trim().getBytes(StandardCharsets.UTF_8))));
        tokenFile.filter(f -> !f.isBlank()).ifPresent(f -> t.add(readOrCreate(Path.of(f))));
        tokens = List.copyOf(t);
        if (tokens.isEmpty()) {
            LOG.info(
                    "/q/metrics is open (set selfsup.metrics.tokens or selfsup.metrics.token-file to require a token)");
        } else {
            LOG.infof("/q/metrics requires a bearer token (%d accepted)", tokens.size());
        }
    }

    /** Before every other route: a metrics request without an accepted token ends here. */
    void routes(@Observes Router router) {
        router.route("/q/metrics*").order(-1000).handler(this::check);
    }

    private void check(RoutingContext rc) {
        if (tokens.isEmpty() || accepted(rc.request().getHeader(BearerToken.AUTHORIZATION.name()))) {
            rc.next();
            return;
        }
        rc.response()
                .setStatusCode(401)
                .putHeader("WWW-Authenticate", "Bearer")
                .putHeader("Content-Type", "application/json")
                .end(new JsonObject()
                        .put(
                                "error",
                                "/q/metrics needs a bearer token: send 'authorization: Bearer <token>' with a"
                                        + " token of selfsup.metrics.tokens or from selfsup.metrics.token-file")
                        .encode());
    }

    private boolean accepted(String header) {
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        byte[] sent = header.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        boolean ok = false;
        for (byte[] t : tokens) {
            ok |= MessageDigest.isEqual(t, sent); // every token compared, in constant time each
        }
        return ok;
    }

    /** The token in {@code file}; a new one written there first (atomically, readable by all) if it is absent. */
    static byte[] readOrCreate(Path file) {
        try {
            if (!Files.exists(file)) {
                Path dir = file.toAbsolutePath().getParent();
                Files.createDirectories(dir);
                Path tmp = Files.createTempFile(dir, ".metrics-token", ".tmp");
                Files.writeString(tmp, TokenFile.newToken("metrics") + "\n");
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
                try {
                    // Several services may start at once on one volume: a link is made only where no file is, so
                    // the first whole file in place is everyone's token (a rename would replace it).
                    Files.createLink(file, tmp);
                } catch (FileAlreadyExistsException raced) {
                    // another service made it first
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
            String token = Files.readString(file).trim();
            if (token.isEmpty()) {
                throw new IllegalStateException("selfsup.metrics.token-file " + file + " is empty");
            }
            return token.getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("selfsup.metrics.token-file " + file + " cannot be read or made", e);
        }
    }
}
