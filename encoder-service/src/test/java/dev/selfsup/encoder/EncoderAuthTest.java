package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.testing.TestHttp;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ListModelsRequest;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import dev.selfsup.proto.v1.UnloadModelRequest;
import dev.selfsup.service.testing.AccessMatrix;
import dev.selfsup.service.testing.LongValues;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.junit.QuarkusTest;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Who may call what, on a real channel: without a token only health and metrics answer; a reader reads; only an
 * operator changes anything. Unary and streaming calls of each class.
 */
@QuarkusTest
class EncoderAuthTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    private final List<ManagedChannel> channels = new ArrayList<>();

    @AfterEach
    void close() {
        channels.forEach(ManagedChannel::shutdownNow);
    }

    private ManagedChannel as(ClientSecurity who) {
        ManagedChannel ch = Grpc.newChannelBuilderForAddress("localhost", port, who.channelCredentials())
                .build();
        channels.add(ch);
        return ch;
    }

    private static void assertRefused(Status.Code code, String messagePart, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        String m = e.getStatus().getDescription();
        assertTrue(m != null && m.contains(messagePart), "message: " + m);
        assertFalse(m.contains("Exception") || m.contains("/"), "message leaks internals: " + m);
    }

    @Test
    void withoutATokenOnlyHealthAndMetricsAnswer() throws Exception {
        ManagedChannel anon = as(ClientSecurity.none());
        var encoder = EncoderServiceGrpc.newBlockingStub(anon).withDeadlineAfter(30, TimeUnit.SECONDS);
        assertRefused(
                Status.Code.UNAUTHENTICATED,
                "authorization: Bearer",
                () -> encoder.listModels(ListModelsRequest.getDefaultInstance()));
        assertRefused(
                Status.Code.UNAUTHENTICATED, "needs a token", () -> encoder.embed(EmbedRequest.getDefaultInstance()));
        assertRefused(
                Status.Code.UNAUTHENTICATED,
                "needs a token",
                () -> encoder.unloadModel(
                        UnloadModelRequest.newBuilder().setName("m").build()));
        assertRefused(
                Status.Code.UNAUTHENTICATED,
                "needs a token",
                () -> SystemServiceGrpc.newBlockingStub(anon).getServerInfo(GetServerInfoRequest.getDefaultInstance()));
        // Streams are refused as well, before the service sees a message.
        assertEquals(Status.Code.UNAUTHENTICATED, streamStatus(anon, true));
        assertEquals(Status.Code.UNAUTHENTICATED, streamStatus(anon, false));
        // Open: the health check (probes) and the metrics (Prometheus).
        HealthGrpc.newBlockingStub(anon)
                .check(HealthCheckRequest.newBuilder().setService("liveness").build());
        assertEquals(
                200, TestHttp.get("http://localhost:" + port + "/q/metrics").statusCode());
        assertEquals(
                200, TestHttp.get("http://localhost:" + port + "/q/health/live").statusCode());
    }

    @Test
    void everyMethodHasItsRole() throws Exception {
        AccessMatrix.check(
                port,
                EncoderServiceGrpc.getServiceDescriptor(),
                Set.of("Embed", "EmbedStream", "ListModels", "GetModel", "Search"));
        AccessMatrix.check(port, SystemServiceGrpc.getServiceDescriptor(), Set.of("GetServerInfo"));
    }

    @Test
    void longValuesInEveryStringFieldGetShortMessages() throws Exception {
        LongValues.check(port, EncoderServiceGrpc.getServiceDescriptor());
        LongValues.check(port, SystemServiceGrpc.getServiceDescriptor());
    }

    @Test
    void reflectionNeedsAToken() throws Exception {
        assertEquals(
                Status.Code.UNAUTHENTICATED,
                reflect(as(ClientSecurity.none())).getStatus().getCode());
        Status reader = reflect(as(ClientSecurity.token("test-reader-token"))).getStatus();
        assertEquals(Status.Code.OK, reader.getCode(), reader.toString());
    }

    /** Lists the services through server reflection: the status the stream ends with. */
    private static StatusRuntimeException reflect(ManagedChannel ch) throws Exception {
        CompletableFuture<Status> done = new CompletableFuture<>();
        List<String> services = new ArrayList<>();
        StreamObserver<ServerReflectionRequest> in = ServerReflectionGrpc.newStub(ch)
                .withDeadlineAfter(30, TimeUnit.SECONDS)
                .serverReflectionInfo(new StreamObserver<ServerReflectionResponse>() {
                    @Override
                    public void onNext(ServerReflectionResponse r) {
                        r.getListServicesResponse().getServiceList().forEach(s -> services.add(s.getName()));
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(Status.OK);
                    }
                });
        in.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
        in.onCompleted();
        Status s = done.get(30, TimeUnit.SECONDS);
        if (s.isOk()) {
            assertTrue(services.contains("selfsup.v1.EncoderService"), services.toString());
        }
        return s.asRuntimeException();
    }

    @Test
    void aWrongTokenIsRefused() {
        var encoder = EncoderServiceGrpc.newBlockingStub(as(ClientSecurity.token("selfsup-operator-guess")));
        assertRefused(
                Status.Code.UNAUTHENTICATED,
                "not valid",
                () -> encoder.listModels(ListModelsRequest.getDefaultInstance()));
    }

    @Test
    void aReaderReadsAndChangesNothing() throws Exception {
        ManagedChannel reader = as(ClientSecurity.token("test-reader-token"));
        var encoder = EncoderServiceGrpc.newBlockingStub(reader).withDeadlineAfter(30, TimeUnit.SECONDS);
        encoder.listModels(ListModelsRequest.getDefaultInstance());
        SystemServiceGrpc.newBlockingStub(reader).getServerInfo(GetServerInfoRequest.getDefaultInstance());
        // Embedding is allowed: the call gets past authorization to the request's own check.
        StatusRuntimeException bad =
                assertThrows(StatusRuntimeException.class, () -> encoder.embed(EmbedRequest.getDefaultInstance()));
        assertFalse(
                bad.getStatus().getCode() == Status.Code.UNAUTHENTICATED
                        || bad.getStatus().getCode() == Status.Code.PERMISSION_DENIED,
                bad.getStatus().toString());
        assertEquals(Status.Code.OK, streamStatus(reader, true));
        assertRefused(
                Status.Code.PERMISSION_DENIED,
                "operator token",
                () -> encoder.unloadModel(
                        UnloadModelRequest.newBuilder().setName("m").build()));
        assertEquals(Status.Code.PERMISSION_DENIED, streamStatus(reader, false));
    }

    @Test
    void anOperatorMayChangeThings() throws Exception {
        ManagedChannel operator = as(ClientSecurity.token("test-operator-token"));
        var encoder = EncoderServiceGrpc.newBlockingStub(operator).withDeadlineAfter(30, TimeUnit.SECONDS);
        encoder.listModels(ListModelsRequest.getDefaultInstance());
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class,
                () -> encoder.unloadModel(
                        UnloadModelRequest.newBuilder().setName("no-such-model").build()));
        assertEquals(
                Status.Code.NOT_FOUND, e.getStatus().getCode(), e.getStatus().toString());
        // PublishModel gets past authorization: an empty upload is the request's own error.
        Status.Code publish = streamStatus(operator, false);
        assertFalse(publish == Status.Code.UNAUTHENTICATED || publish == Status.Code.PERMISSION_DENIED, "" + publish);
    }

    /**
     * The status a stream ends with: EmbedStream (a reader's, with no request: OK) or PublishModel (an operator's,
     * with no chunk: a client error).
     */
    private static Status.Code streamStatus(ManagedChannel ch, boolean embedStream) throws Exception {
        CompletableFuture<Status.Code> done = new CompletableFuture<>();
        Consumer<Throwable> onError = t -> done.complete(Status.fromThrowable(t).getCode());
        var stub = EncoderServiceGrpc.newStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS);
        if (embedStream) {
            StreamObserver<EmbedRequest> in = stub.embedStream(new Replies<EmbedResponse>(done, onError));
            in.onCompleted();
        } else {
            StreamObserver<ModelChunk> in = stub.publishModel(new Replies<ModelInfo>(done, onError));
            in.onCompleted();
        }
        return done.get(30, TimeUnit.SECONDS);
    }

    private record Replies<T>(CompletableFuture<Status.Code> done, Consumer<Throwable> onError)
            implements StreamObserver<T> {
        @Override
        public void onNext(T value) {}

        @Override
        public void onError(Throwable t) {
            onError.accept(t);
        }

        @Override
        public void onCompleted() {
            done.complete(Status.Code.OK);
        }
    }
}
