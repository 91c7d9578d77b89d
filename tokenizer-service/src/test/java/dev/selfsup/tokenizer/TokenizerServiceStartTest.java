package dev.selfsup.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.numerics.CpuIsaGuard;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ServerInfo;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import grpc.health.v1.HealthGrpc;
import io.quarkus.test.junit.QuarkusTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/** The service starts, answers the standard gRPC health check and its own info call over a real channel. */
@QuarkusTest
class TokenizerServiceStartTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @Test
    void answersHealthAndInfoOverGrpc() throws Exception {
        ManagedChannel ch = ManagedChannelBuilder.forAddress("localhost", port).usePlaintext().build();
        try {
            HealthCheckResponse h = HealthGrpc.newBlockingStub(ch).check(HealthCheckRequest.newBuilder().build());
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, h.getStatus());
            ServerInfo info = SystemServiceGrpc.newBlockingStub(ch).getServerInfo(GetServerInfoRequest.getDefaultInstance());
            assertEquals("tokenizer-service", info.getService());
            assertTrue(info.getEngine().startsWith("PyTorch"), info.getEngine());
            assertEquals("cpu()", info.getDevice());
            // The numerics self-check ran at start, under the default instruction-set policy (docs/numerics.md).
            assertTrue(info.getNumericsCheck().startsWith("passed: "), info.getNumericsCheck());
            assertEquals(CpuIsaGuard.apply().describe(), info.getCpuIsa());
            assertTrue(info.getCpu().contains("family"), info.getCpu());
        } finally {
            ch.shutdownNow();
        }
        HttpResponse<String> ready = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/q/health/ready")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("\"device\": \"cpu()\"") || ready.body().contains("\"device\":\"cpu()\""), ready.body());
    }
}
