package dev.selfsup.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.numerics.CpuIsaGuard;
import dev.selfsup.core.testing.TestHttp;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ServerInfo;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import dev.selfsup.proto.v1.TokenizeRequest;
import dev.selfsup.proto.v1.TokenizerServiceGrpc;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.quarkus.test.junit.QuarkusTest;
import java.net.http.HttpResponse;
import java.util.List;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/** The service starts, answers the standard gRPC health check and its own info call over a real channel. */
@QuarkusTest
class TokenizerServiceStartTest {
    /** The operator token of the test profile (application.properties). */
    static final ClientSecurity OPERATOR = ClientSecurity.token("test-operator-token");

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @Test
    void answersHealthAndInfoOverGrpc() throws Exception {
        ManagedChannel ch = Grpc.newChannelBuilderForAddress("localhost", port, OPERATOR.channelCredentials())
                .build();
        try {
            HealthCheckResponse h = HealthGrpc.newBlockingStub(ch)
                    .check(HealthCheckRequest.newBuilder().build());
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, h.getStatus());
            ServerInfo info =
                    SystemServiceGrpc.newBlockingStub(ch).getServerInfo(GetServerInfoRequest.getDefaultInstance());
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
        HttpResponse<String> ready = TestHttp.get("http://localhost:" + port + "/q/health/ready");
        assertEquals(200, ready.statusCode(), ready.body());
        assertTrue(
                ready.body().contains("\"device\": \"cpu()\"") || ready.body().contains("\"device\":\"cpu()\""),
                ready.body());
        // A request, so that the request meters exist; then every selfsup meter must explain itself.
        ManagedChannel again = Grpc.newChannelBuilderForAddress("localhost", port, OPERATOR.channelCredentials())
                .build();
        try {
            TokenizerServiceGrpc.newBlockingStub(again)
                    .tokenize(TokenizeRequest.newBuilder()
                            .setTokenizer("no-such-tokenizer")
                            .build());
        } catch (io.grpc.StatusRuntimeException expected) {
            // Counted all the same.
        } finally {
            again.shutdownNow();
        }
        String metrics = TestHttp.get("http://localhost:" + port + "/q/metrics").body();
        assertTrue(metrics.contains("selfsup_tokenizer_requests_total"), "the request counter is exported");
        List<String> emptyHelp = metrics.lines()
                .filter(l -> l.startsWith("# HELP selfsup_"))
                .filter(l -> l.split(" ", 4).length < 4 || l.split(" ", 4)[3].isBlank())
                .toList();
        assertTrue(emptyHelp.isEmpty(), "meters without a description: " + emptyHelp);
    }
}
