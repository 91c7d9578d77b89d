package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.GetModelRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * The decompression bomb and its cousins, sent to the packaged encoder-service as an attacker would: a gzip message of
 * under 1 MiB that inflates to {@value #BOMB_MIB} MiB, with no token and with one, to the health service, a unary
 * call, a streaming call and server reflection; a large uncompressed message with no token; a chunked REST body past
 * the limit. The service runs with the compose suite's heap ({@value #HEAP_MIB} MiB, exit on OutOfMemoryError), so
 * one inflated message would end it. Every request must get its clear status, the service must keep serving, and its
 * peak RSS must not grow by more than {@value #RSS_SLACK_MIB} MiB.
 */
class RequestBombIT {
    private static final String OPERATOR = "selfsup-operator-bomb-it";
    private static final int HEAP_MIB = 256;
    private static final int BOMB_MIB = 700;
    private static final int RSS_SLACK_MIB = 64;

    @Test
    void bombsAndAnonymousRequestsCostNoMemory() throws Exception {
        Path jar = Path.of("target/quarkus-app/quarkus-run.jar");
        assertTrue(Files.isRegularFile(jar), "package the service first (mvn verify)");
        byte[] bomb = gzipOfStringField(BOMB_MIB << 20);
        assertTrue(bomb.length < (1 << 20), "the bomb is small on the wire: " + bomb.length + " bytes");
        int port = freePort();
        Process p = start(jar, port);
        Vertx vertx = Vertx.vertx();
        try {
            ManagedChannel ch = ClientSecurity.token(OPERATOR).open("127.0.0.1:" + port);
            awaitServing(ch);
            long before = peakRssKib(p);
            HttpClient raw = vertx.createHttpClient(new HttpClientOptions()
                    .setProtocolVersion(HttpVersion.HTTP_2)
                    .setHttp2ClearTextUpgrade(false));

            List<String> paths = List.of(
                    "/grpc.health.v1.Health/Check",
                    "/selfsup.v1.EncoderService/GetModel",
                    "/selfsup.v1.EncoderService/EmbedStream",
                    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
            for (String path : paths) {
                for (String authorization : Arrays.asList(null, "Bearer " + OPERATOR)) {
                    String[] status = rawCall(raw, port, path, authorization, "gzip", frame(true, bomb));
                    assertEquals("12", status[0], path + " " + authorization + ": " + status[1]);
                    assertTrue(status[1].startsWith("this service takes uncompressed messages only"), status[1]);
                }
            }
            // No token: refused before the message is read, whatever its size; reflection too (it was a bare 401).
            byte[] large = new byte[(4 << 20) - 64];
            large[0] = 0x0a;
            for (String path : paths.subList(1, paths.size())) {
                String[] status = rawCall(raw, port, path, null, null, frame(false, large));
                assertEquals("16", status[0], path + ": " + status[1]);
                assertTrue(status[1].startsWith("this service needs a token"), status[1]);
            }
            // A real gRPC client with compression on is told what to change.
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class,
                    () -> EncoderServiceGrpc.newBlockingStub(ch)
                            .withCompression("gzip")
                            .getModel(GetModelRequest.newBuilder().setName("x").build()));
            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("turn message compression off"), e.toString());

            // REST: a chunked body (no Content-Length) is bounded too; no token is a JSON error.
            HttpResponse<String> anonymous = chunkedPost(port, null, 96 << 20);
            assertEquals(401, anonymous.statusCode());
            assertTrue(anonymous.body().startsWith("{\"error\":\"this service needs a token"), anonymous.body());
            HttpResponse<String> tooLarge = chunkedPost(port, OPERATOR, 96 << 20);
            assertEquals(413, tooLarge.statusCode(), tooLarge.body());

            assertTrue(p.isAlive(), "the service survived");
            assertEquals(
                    HealthCheckResponse.ServingStatus.SERVING,
                    HealthGrpc.newBlockingStub(ch)
                            .withDeadlineAfter(10, TimeUnit.SECONDS)
                            .check(HealthCheckRequest.newBuilder()
                                    .setService("liveness")
                                    .build())
                            .getStatus());
            long after = peakRssKib(p);
            System.out.printf(
                    "RequestBombIT: bomb %d bytes on the wire, %d MiB inflated; peak RSS %d MiB before, %d MiB after"
                            + " (heap %d MiB)%n",
                    bomb.length, BOMB_MIB, before >> 10, after >> 10, HEAP_MIB);
            assertTrue(
                    after - before < RSS_SLACK_MIB << 10,
                    "peak RSS grew from " + (before >> 10) + " to " + (after >> 10) + " MiB");
            ch.shutdownNow();
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    /** A protobuf message whose field 1 is a string of {@code n} letters, gzipped as it streams (little memory). */
    static byte[] gzipOfStringField(int n) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out, 1 << 16)) {
            gz.write(0x0a);
            for (long v = n; ; v >>>= 7) {
                if (v < 0x80) {
                    gz.write((int) v);
                    break;
                }
                gz.write((int) (v & 0x7f) | 0x80);
            }
            byte[] letters = new byte[1 << 20];
            Arrays.fill(letters, (byte) 'a');
            for (int written = 0; written < n; written += letters.length) {
                gz.write(letters, 0, Math.min(letters.length, n - written));
            }
        }
        return out.toByteArray();
    }

    /** One length-prefixed gRPC message. */
    static Buffer frame(boolean compressed, byte[] message) {
        return Buffer.buffer()
                .appendByte((byte) (compressed ? 1 : 0))
                .appendInt(message.length)
                .appendBytes(message);
    }

    /** A gRPC call over raw HTTP/2: its grpc-status and decoded grpc-message. */
    static String[] rawCall(
            HttpClient client, int port, String path, String authorization, String encoding, Buffer body)
            throws Exception {
        HttpClientResponse response = client.request(HttpMethod.POST, port, "127.0.0.1", path)
                .compose(r -> {
                    r.putHeader("content-type", "application/grpc").putHeader("te", "trailers");
                    if (authorization != null) {
                        r.putHeader("authorization", authorization);
                    }
                    if (encoding != null) {
                        r.putHeader("grpc-encoding", encoding);
                    }
                    return r.send(body);
                })
                .toCompletionStage()
                .toCompletableFuture()
                .get(60, TimeUnit.SECONDS);
        response.end().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        String status = response.headers().get("grpc-status");
        String message = response.headers().get("grpc-message");
        if (status == null) {
            status = response.trailers().get("grpc-status");
            message = response.trailers().get("grpc-message");
        }
        return new String[] {status, message == null ? "" : URLDecoder.decode(message, StandardCharsets.UTF_8)};
    }

    private static HttpResponse<String> chunkedPost(int port, String token, long bytes) throws Exception {
        InputStream endless = new InputStream() {
            long left = bytes;

            @Override
            public int read() {
                return left-- > 0 ? ' ' : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (left <= 0) {
                    return -1;
                }
                int n = (int) Math.min(len, left);
                Arrays.fill(b, off, off + n, (byte) ' ');
                left -= n;
                return n;
            }
        };
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v2/models/m/infer"))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> endless));
        if (token != null) {
            b.header("authorization", "Bearer " + token);
        }
        var http = java.net.http.HttpClient.newBuilder()
                .version(java.net.http.HttpClient.Version.HTTP_1_1)
                .build();
        try {
            return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            // The server may answer and close before the client finished sending; that is a refusal too.
            throw new AssertionError("the REST refusal did not arrive: " + e, e);
        }
    }

    private static Process start(Path jar, int port) throws IOException {
        Path var = Files.createTempDirectory("selfsup-bomb-it");
        List<String> cmd = new ArrayList<>(List.of(
                System.getProperty("java.home") + "/bin/java",
                "-Xmx" + HEAP_MIB + "m",
                // The whole heap committed and touched at start: what grows after is not the heap filling its limit.
                "-Xms" + HEAP_MIB + "m",
                "-XX:+AlwaysPreTouch",
                "-XX:+ExitOnOutOfMemoryError",
                "-Dai.djl.offline=true",
                "-Dquarkus.http.port=" + port,
                "-Dselfsup.device=cpu",
                "-Dselfsup.var-dir=" + var,
                "-Dselfsup.encoder.model-dir=" + var.resolve("models"),
                "-Dselfsup.auth.operator-tokens=" + OPERATOR,
                "-Dselfsup.auth.reader-tokens=selfsup-reader-bomb-it",
                "-jar",
                jar.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(new File("target/request-bomb-it.log"));
        pb.environment().put("DJL_OFFLINE", "true");
        return pb.start();
    }

    private static void awaitServing(ManagedChannel ch) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (true) {
            try {
                HealthGrpc.newBlockingStub(ch)
                        .withDeadlineAfter(2, TimeUnit.SECONDS)
                        .check(HealthCheckRequest.newBuilder()
                                .setService("liveness")
                                .build());
                return;
            } catch (RuntimeException e) {
                assertTrue(System.currentTimeMillis() < deadline, "service did not come up: " + e);
                Thread.sleep(250);
            }
        }
    }

    /** The process's peak resident set (VmHWM), KiB. */
    private static long peakRssKib(Process p) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmHWM in /proc/" + p.pid() + "/status");
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
