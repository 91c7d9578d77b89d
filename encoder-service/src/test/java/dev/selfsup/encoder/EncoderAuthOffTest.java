package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.ListModelsRequest;
import dev.selfsup.proto.v1.UnloadModelRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

/** With {@code selfsup.auth.enabled=false} (said explicitly), a caller without a token may call everything. */
@QuarkusTest
@TestProfile(EncoderAuthOffTest.AuthOff.class)
class EncoderAuthOffTest {
    /** The test profile with authentication turned off. */
    public static class AuthOff implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("selfsup.auth.enabled", "false");
        }
    }

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @Test
    void anyoneMayCallEverything() throws Exception {
        ManagedChannel anonymous = ClientSecurity.none().open("localhost:" + port);
        try {
            var encoder = EncoderServiceGrpc.newBlockingStub(anonymous).withDeadlineAfter(30, TimeUnit.SECONDS);
            encoder.listModels(ListModelsRequest.getDefaultInstance());
            // An operator call gets past authorization to its own answer.
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class,
                    () -> encoder.unloadModel(UnloadModelRequest.newBuilder()
                            .setName("no-such-model")
                            .build()));
            assertEquals(
                    Status.Code.NOT_FOUND,
                    e.getStatus().getCode(),
                    e.getStatus().toString());
        } finally {
            anonymous.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
