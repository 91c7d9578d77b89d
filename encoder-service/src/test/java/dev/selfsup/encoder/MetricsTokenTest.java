package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/**
 * With a metrics token configured, {@code /q/metrics} answers only requests that carry one (from the list or from
 * the file the service made), with a JSON error and a bearer challenge otherwise; health stays open.
 */
@QuarkusTest
@TestProfile(MetricsTokenTest.WithToken.class)
class MetricsTokenTest {
    static final Path TOKEN_FILE;

    static {
        try {
            TOKEN_FILE =
                    Files.createTempDirectory("metrics-auth").resolve("sub").resolve("token");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A listed token and a token file that does not exist yet. */
    public static class WithToken implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "selfsup.metrics.tokens",
                    "listed-metrics-token",
                    "selfsup.metrics.token-file",
                    TOKEN_FILE.toString());
        }
    }

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    private HttpResponse<String> get(String path, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void metricsAnswerOnlyATokenAndHealthStaysOpen() throws Exception {
        HttpResponse<String> none = get("/q/metrics", null);
        assertEquals(401, none.statusCode());
        assertEquals("Bearer", none.headers().firstValue("WWW-Authenticate").orElse(""));
        assertTrue(none.body().startsWith("{\"error\":\"/q/metrics needs a bearer token"), none.body());
        assertEquals(401, get("/q/metrics", "Bearer wrong").statusCode());
        assertEquals(401, get("/q/metrics", "listed-metrics-token").statusCode(), "no scheme");
        assertEquals(401, get("/q/metrics/", null).statusCode(), "the path with a slash");

        HttpResponse<String> listed = get("/q/metrics", "Bearer listed-metrics-token");
        assertEquals(200, listed.statusCode());
        assertTrue(listed.body().contains("selfsup_encoder"), "metrics of this service");

        // The file was made at start, readable by a scraper running as another user, and its token works too.
        String fromFile = Files.readString(TOKEN_FILE).trim();
        assertTrue(fromFile.startsWith("selfsup-metrics-"), fromFile);
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(TOKEN_FILE)));
        assertEquals(200, get("/q/metrics", "bearer " + fromFile).statusCode());

        assertNotEquals(401, get("/q/health/live", null).statusCode());
        assertNotEquals(401, get("/q/health/ready", null).statusCode());
    }
}
