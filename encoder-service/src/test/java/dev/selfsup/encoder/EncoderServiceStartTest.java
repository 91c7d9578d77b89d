package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.numerics.CpuIsaGuard;
import dev.selfsup.core.testing.TestHttp;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ServerInfo;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/** The service starts, answers the standard gRPC health check and its own info call over a real channel. */
@QuarkusTest
class EncoderServiceStartTest {
    /** The operator token of the test profile (application.properties). */
    static final ClientSecurity OPERATOR = ClientSecurity.token("test-operator-token");

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @Test
    void answersHealthAndInfoOverGrpc() throws Exception {
        ManagedChannel ch = Grpc.newChannelBuilderForAddress("localhost", port, OPERATOR.channelCredentials())
                .build();
        try {
            // The gRPC health check agrees with /q/health/ready (a model with a default version is needed), and
            // follows the protocol for names it does not know.
            var health = HealthGrpc.newBlockingStub(ch);
            int ready =
                    TestHttp.get("http://localhost:" + port + "/q/health/ready").statusCode();
            HealthCheckResponse.ServingStatus expected = ready == 200
                    ? HealthCheckResponse.ServingStatus.SERVING
                    : HealthCheckResponse.ServingStatus.NOT_SERVING;
            assertEquals(
                    expected,
                    health.check(HealthCheckRequest.newBuilder().build()).getStatus());
            assertEquals(
                    expected,
                    health.check(HealthCheckRequest.newBuilder()
                                    .setService("selfsup.v1.EncoderService")
                                    .build())
                            .getStatus());
            assertEquals(
                    HealthCheckResponse.ServingStatus.SERVING,
                    health.check(HealthCheckRequest.newBuilder()
                                    .setService("liveness")
                                    .build())
                            .getStatus());
            StatusRuntimeException unknown = assertThrows(
                    StatusRuntimeException.class,
                    () -> health.check(HealthCheckRequest.newBuilder()
                            .setService("no.such.Service")
                            .build()));
            assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
            ServerInfo info =
                    SystemServiceGrpc.newBlockingStub(ch).getServerInfo(GetServerInfoRequest.getDefaultInstance());
            assertEquals("encoder-service", info.getService());
            assertTrue(info.getEngine().startsWith("PyTorch"), info.getEngine());
            assertEquals("cpu()", info.getDevice());
            // The numerics self-check ran at start, under the default instruction-set policy (docs/numerics.md).
            assertTrue(info.getNumericsCheck().startsWith("passed: "), info.getNumericsCheck());
            assertEquals(CpuIsaGuard.apply().describe(), info.getCpuIsa());
            assertTrue(info.getCpu().contains("family"), info.getCpu());
        } finally {
            ch.shutdownNow();
        }
        HttpResponse<String> live = TestHttp.get("http://localhost:" + port + "/q/health/live");
        assertEquals(200, live.statusCode(), live.body());
        // Readiness also needs a default model (EncoderServiceTest checks that); the engine check reports the device.
        HttpResponse<String> ready = TestHttp.get("http://localhost:" + port + "/q/health/ready");
        assertTrue(ready.body().replace(" ", "").contains("\"device\":\"cpu()\""), ready.body());
        assertTrue(
                ready.body().contains("\"numerics_check\": \"passed: ")
                        && ready.body()
                                .contains(
                                        "\"cpu_isa\": \"" + CpuIsaGuard.apply().describe()),
                ready.body());
        HttpResponse<String> metrics = TestHttp.get("http://localhost:" + port + "/q/metrics");
        assertTrue(
                metrics.body()
                        .contains("selfsup_numerics_check_passed{isa=\""
                                + CpuIsaGuard.apply().cap() + "\",policy=\""
                                + CpuIsaGuard.apply().policy() + "\"} 1.0"),
                metrics.body()
                        .lines()
                        .filter(l -> l.contains("numerics"))
                        .toList()
                        .toString());
    }

    @Test
    void statusMessagesAreEncodedAsTheGrpcProtocolSays() throws Exception {
        // A raw HTTP/2 client, to see grpc-message as it travels: gRPC clients decode it before anyone sees it.
        Vertx vertx = Vertx.vertx();
        try {
            var client = vertx.createHttpClient(new HttpClientOptions()
                    .setProtocolVersion(HttpVersion.HTTP_2)
                    .setHttp2ClearTextUpgrade(false));
            assertEquals(
                    "no model named 'no-such-model'; publish one with PublishModel or list them with ListModels",
                    rawGrpcMessage(client, "Bearer " + OPERATOR.token()),
                    "printable ASCII travels as it is (';' was %3B)");
            // Refusals of Quarkus's security layer go through the same encoding.
            assertTrue(rawGrpcMessage(client, null)
                    .startsWith("this service needs a token: send the metadata" + " 'authorization: Bearer <token>'"));
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    /** GetModel of "no-such-model" over a raw HTTP/2 client: the grpc-message as it travels. */
    private String rawGrpcMessage(io.vertx.core.http.HttpClient client, String authorization) throws Exception {
        byte[] name = "no-such-model".getBytes(StandardCharsets.US_ASCII);
        Buffer frame = Buffer.buffer()
                .appendByte((byte) 0)
                .appendInt(name.length + 2)
                .appendByte((byte) 0x0a)
                .appendByte((byte) name.length)
                .appendBytes(name);
        HttpClientResponse response = client.request(
                        HttpMethod.POST, port, "localhost", "/selfsup.v1.EncoderService/GetModel")
                .compose(r -> {
                    r.putHeader("content-type", "application/grpc").putHeader("te", "trailers");
                    if (authorization != null) {
                        r.putHeader("authorization", authorization);
                    }
                    return r.send(frame);
                })
                .toCompletionStage()
                .toCompletableFuture()
                .get(30, TimeUnit.SECONDS);
        response.end().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        return response.headers().get("grpc-message") != null
                ? response.headers().get("grpc-message")
                : response.trailers().get("grpc-message");
    }
}
