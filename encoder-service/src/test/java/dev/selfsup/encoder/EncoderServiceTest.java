package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.io.TensorArchive;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.testing.TestHttp;
import dev.selfsup.core.testing.TestImages;
import dev.selfsup.proto.ModelUpload;
import dev.selfsup.proto.v1.AddToGalleryRequest;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.GalleryItem;
import dev.selfsup.proto.v1.GetModelRequest;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.ListModelsRequest;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.ModelInfo;
import dev.selfsup.proto.v1.ModelManifest;
import dev.selfsup.proto.v1.ModelState;
import dev.selfsup.proto.v1.PixelType;
import dev.selfsup.proto.v1.RawImage;
import dev.selfsup.proto.v1.SearchRequest;
import dev.selfsup.proto.v1.SearchResponse;
import dev.selfsup.proto.v1.SetDefaultVersionRequest;
import dev.selfsup.proto.v1.UnloadModelRequest;
import dev.selfsup.service.OversizedMessages;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.junit.QuarkusTest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.MatchResult;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The encoder-service over a real channel: publish bundles made by core, embed and compare with core's own
 * answer, switch versions under load, stream, search a gallery, and every bad input with its status.
 */
@QuarkusTest
class EncoderServiceTest {
    /** The operator token of the test profile (application.properties). */
    static final ClientSecurity OPERATOR = ClientSecurity.token("test-operator-token");

    static final int SIZE = 16;
    static final int CHANNELS = 1;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    ManagedChannel channel;
    EncoderServiceGrpc.EncoderServiceBlockingStub encoder;

    @BeforeEach
    void connect() {
        channel = Grpc.newChannelBuilderForAddress("localhost", port, OPERATOR.channelCredentials())
                .maxInboundMessageSize(64 << 20)
                .build();
        encoder = EncoderServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES);
    }

    @AfterEach
    void close() {
        channel.shutdownNow();
    }

    /** Publishes bundle bytes in 4 KiB chunks (several chunks even for tiny bundles). */
    ModelInfo publish(String name, byte[] bundle) {
        return publish(
                ModelManifest.newBuilder()
                        .setName(name)
                        .setSizeBytes(bundle.length)
                        .setSha256(sha256(bundle))
                        .build(),
                bundle);
    }

    ModelInfo publish(ModelManifest manifest, byte[] bundle) {
        // The manifest as given (the bad-input cases lie in it), then the bytes in 4 KiB chunks.
        List<ModelChunk> chunks = new ArrayList<>(ModelUpload.chunks(bundle, ModelManifest.newBuilder(), 4096));
        chunks.set(0, ModelChunk.newBuilder().setManifest(manifest).build());
        return join(ModelUpload.publish(
                EncoderServiceGrpc.newStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES), chunks));
    }

    static <T> StreamObserver<T> observer(CompletableFuture<T> result) {
        return new StreamObserver<>() {
            @Override
            public void onNext(T value) {
                result.complete(value);
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {}
        };
    }

    static <T> T join(CompletableFuture<T> f) {
        try {
            return f.get(2, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof StatusRuntimeException s) {
                throw s;
            }
            throw new AssertionError(e);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static String sha256(byte[] b) {
        return ModelUpload.sha256(b);
    }

    /** {@code n} random grey images: CHW floats (what core takes) and the same pixels as bytes. */
    record Pictures(byte[][] bytes, float[] floats) {}

    static Pictures pictures(int n, long seed) {
        Random r = new Random(seed);
        byte[][] b = new byte[n][SIZE * SIZE];
        float[] f = new float[n * SIZE * SIZE];
        for (int i = 0; i < n; i++) {
            r.nextBytes(b[i]);
            for (int j = 0; j < SIZE * SIZE; j++) {
                f[i * SIZE * SIZE + j] = (b[i][j] & 0xff) / 255f;
            }
        }
        return new Pictures(b, f);
    }

    static Image raw(byte[] grey) {
        return Image.newBuilder()
                .setRaw(RawImage.newBuilder()
                        .setHeight(SIZE)
                        .setWidth(SIZE)
                        .setChannels(1)
                        .setType(PixelType.PIXEL_TYPE_UINT8)
                        .setData(ByteString.copyFrom(grey)))
                .build();
    }

    static Image png(byte[] grey) {
        return Image.newBuilder()
                .setEncoded(ByteString.copyFrom(ImageCodec.encodePng(grey, 1, SIZE, SIZE)))
                .build();
    }

    static void assertClose(float[] expected, EmbedResponse r, int dim) {
        assertEquals(expected.length / dim, r.getEmbeddingsCount());
        for (int i = 0; i < r.getEmbeddingsCount(); i++) {
            for (int j = 0; j < dim; j++) {
                float e = expected[i * dim + j];
                float a = r.getEmbeddings(i).getValues(j);
                assertTrue(Math.abs(e - a) <= 1e-5f, "image " + i + " value " + j + ": core " + e + ", service " + a);
            }
        }
    }

    @Test
    void servesAPhotoResNetLikeAnyOtherModel() throws Exception {
        // ResNet-18 with the ImageNet stem, at width 16 to stay quick; its 7x7 stride-2 stem and max-pool run on
        // 16 px as on 224 px.
        byte[] bundle = TestBundles.of(BackboneSpec.RESNET18_IMAGENET, CHANNELS, SIZE, 16, 1, 12);
        ModelInfo info = publish("photo-resnet", bundle);
        assertEquals(128, info.getFeatureDim());
        assertTrue(info.getBackbone().startsWith("resnet18-imagenet"), info.getBackbone());
        Pictures p = pictures(3, 2);
        EmbedRequest.Builder req = EmbedRequest.newBuilder().setModel("photo-resnet");
        for (byte[] b : p.bytes()) {
            req.addImages(raw(b));
        }
        assertClose(TestBundles.embedInProcess(bundle, p.floats(), 3), encoder.embed(req.build()), 128);
    }

    @Test
    void servesTheVectorsCoreComputes() throws Exception {
        byte[] bundle = TestBundles.convnet(CHANNELS, SIZE, 8, 1, 11);
        ModelInfo info = publish("same-as-core", bundle);
        assertEquals(1, info.getVersion());
        assertEquals(ModelState.MODEL_STATE_READY, info.getState());
        assertTrue(info.getIsDefault());
        assertEquals(32, info.getFeatureDim());
        assertEquals(sha256(bundle), info.getSha256());

        Pictures p = pictures(5, 1);
        float[] expected = TestBundles.embedInProcess(bundle, p.floats(), 5);
        EmbedRequest.Builder rawReq = EmbedRequest.newBuilder().setModel("same-as-core");
        EmbedRequest.Builder pngReq = EmbedRequest.newBuilder().setModel("same-as-core");
        for (byte[] b : p.bytes()) {
            rawReq.addImages(raw(b));
            pngReq.addImages(png(b));
        }
        EmbedResponse r = encoder.embed(rawReq.build());
        assertEquals(1, r.getVersion());
        assertClose(expected, r, 32);
        assertClose(expected, encoder.embed(pngReq.build()), 32);

        // Float pixels, and L2 normalisation.
        ByteBuffer fb = ByteBuffer.allocate(SIZE * SIZE * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int j = 0; j < SIZE * SIZE; j++) {
            fb.putFloat(p.floats()[j]);
        }
        EmbedResponse n = encoder.embed(EmbedRequest.newBuilder()
                .setModel("same-as-core")
                .setNormalize(true)
                .addImages(Image.newBuilder()
                        .setRaw(RawImage.newBuilder()
                                .setHeight(SIZE)
                                .setWidth(SIZE)
                                .setChannels(1)
                                .setType(PixelType.PIXEL_TYPE_FLOAT32)
                                .setData(ByteString.copyFrom(fb.array()))))
                .build());
        double norm = 0;
        double dot = 0;
        double en = 0;
        for (int j = 0; j < 32; j++) {
            float v = n.getEmbeddings(0).getValues(j);
            norm += v * v;
            dot += v * expected[j];
            en += expected[j] * expected[j];
        }
        assertEquals(1.0, norm, 1e-5);
        assertEquals(1.0, dot / Math.sqrt(en), 1e-5);

        // A bigger encoded image is resized to the model's input, as the trainer does with image folders.
        byte[] big = new byte[3 * 40 * 40];
        new Random(3).nextBytes(big);
        EmbedResponse resized = encoder.embed(EmbedRequest.newBuilder()
                .setModel("same-as-core")
                .addImages(Image.newBuilder().setEncoded(ByteString.copyFrom(ImageCodec.encodePng(big, 3, 40, 40))))
                .build());
        assertEquals(32, resized.getEmbeddings(0).getValuesCount());

        // Readiness: a default model is loaded.
        HttpResponse<String> ready = TestHttp.get("http://localhost:" + port + "/q/health/ready");
        assertEquals(200, ready.statusCode(), ready.body());
    }

    @Test
    void switchingVersionsUnderLoadFailsNoRequest() throws Exception {
        byte[] v1 = TestBundles.convnet(CHANNELS, SIZE, 8, 1, 21);
        byte[] v2 = TestBundles.convnet(CHANNELS, SIZE, 8, 1, 22);
        byte[] v3 = TestBundles.convnet(CHANNELS, SIZE, 16, 1, 23);
        Pictures p = pictures(2, 5);
        Map<Integer, float[]> expected = Map.of(
                1,
                TestBundles.embedInProcess(v1, p.floats(), 2),
                2,
                TestBundles.embedInProcess(v2, p.floats(), 2),
                3,
                TestBundles.embedInProcess(v3, p.floats(), 2));
        assertNotEquals(expected.get(1)[0], expected.get(2)[0]);
        publish("switching", v1);
        EmbedRequest req = EmbedRequest.newBuilder()
                .setModel("switching")
                .addImages(raw(p.bytes()[0]))
                .addImages(raw(p.bytes()[1]))
                .build();

        AtomicBoolean stop = new AtomicBoolean();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        Map<Integer, AtomicInteger> byVersion = new ConcurrentHashMap<>();
        ExecutorService clients = Executors.newFixedThreadPool(16);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < 16; c++) {
            running.add(clients.submit(() -> {
                var stub = EncoderServiceGrpc.newBlockingStub(channel);
                while (!stop.get()) {
                    try {
                        EmbedResponse r =
                                stub.withDeadlineAfter(30, TimeUnit.SECONDS).embed(req);
                        assertClose(expected.get(r.getVersion()), r, r.getVersion() == 3 ? 64 : 32);
                        byVersion
                                .computeIfAbsent(r.getVersion(), k -> new AtomicInteger())
                                .incrementAndGet();
                    } catch (Throwable t) {
                        failures.add(t);
                    }
                }
            }));
        }
        Thread.sleep(500);
        assertEquals(2, publish("switching", v2).getVersion());
        Thread.sleep(500);
        assertEquals(
                1,
                encoder.setDefaultVersion(SetDefaultVersionRequest.newBuilder()
                                .setName("switching")
                                .setVersion(1)
                                .build())
                        .getVersion());
        Thread.sleep(500);
        // A version with another architecture (wider, 64-d) becomes the default by being the newest once unpinned.
        publish("switching", v3);
        encoder.setDefaultVersion(
                SetDefaultVersionRequest.newBuilder().setName("switching").build());
        Thread.sleep(500);
        // Unloading the serving version: its queued requests finish, new ones go to the next default.
        encoder.unloadModel(UnloadModelRequest.newBuilder()
                .setName("switching")
                .setVersion(3)
                .build());
        Thread.sleep(500);
        stop.set(true);
        for (Future<?> f : running) {
            f.get(1, TimeUnit.MINUTES);
        }
        clients.shutdown();
        assertTrue(failures.isEmpty(), () -> failures.size() + " failed, first: " + failures.get(0));
        assertTrue(byVersion.keySet().containsAll(List.of(1, 2, 3)), "served by " + byVersion);
        var versions = encoder.listModels(
                        ListModelsRequest.newBuilder().setName("switching").build())
                .getModelsList();
        assertEquals(List.of(1, 2), versions.stream().map(ModelInfo::getVersion).toList());
        assertTrue(versions.get(1).getIsDefault());
    }

    @Test
    void streamsInOrderAndSearchesAGallery() throws Exception {
        byte[] bundle = TestBundles.convnet(CHANNELS, SIZE, 8, 1, 31);
        publish("gallery", bundle);
        Pictures p = pictures(12, 9);
        float[] expected = TestBundles.embedInProcess(bundle, p.floats(), 12);

        List<EmbedResponse> got = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> done = new CompletableFuture<>();
        StreamObserver<EmbedRequest> stream = EncoderServiceGrpc.newStub(channel)
                .withDeadlineAfter(1, TimeUnit.MINUTES)
                .embedStream(new StreamObserver<>() {
                    @Override
                    public void onNext(EmbedResponse value) {
                        got.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        done.complete(null);
                    }
                });
        for (int i = 0; i < 12; i++) {
            stream.onNext(EmbedRequest.newBuilder()
                    .setModel("gallery")
                    .setRequestId("r" + i)
                    .addImages(raw(p.bytes()[i]))
                    .build());
        }
        stream.onCompleted();
        join(done);
        assertEquals(12, got.size());
        for (int i = 0; i < 12; i++) {
            assertEquals("r" + i, got.get(i).getRequestId());
            float[] one = new float[32];
            System.arraycopy(expected, i * 32, one, 0, 32);
            assertClose(one, got.get(i), 32);
        }

        // A stream's message over the limit after its answers began: the refusal comes in the trailers, with text.
        CompletableFuture<EmbedResponse> first = new CompletableFuture<>();
        CompletableFuture<Void> refused = new CompletableFuture<>();
        StreamObserver<EmbedRequest> growing = EncoderServiceGrpc.newStub(channel)
                .withDeadlineAfter(1, TimeUnit.MINUTES)
                .embedStream(new StreamObserver<>() {
                    @Override
                    public void onNext(EmbedResponse value) {
                        first.complete(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        refused.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        refused.complete(null);
                    }
                });
        growing.onNext(EmbedRequest.newBuilder()
                .setModel("gallery")
                .addImages(raw(p.bytes()[0]))
                .build());
        assertEquals(1, first.get(1, TimeUnit.MINUTES).getEmbeddingsCount(), "answered before the big one");
        EmbedRequest oversized = EmbedRequest.newBuilder()
                .setModel("gallery")
                .addImages(Image.newBuilder().setEncoded(ByteString.copyFrom(new byte[5 << 20])))
                .build();
        growing.onNext(oversized);
        ExecutionException streamRefusal =
                assertThrows(ExecutionException.class, () -> refused.get(1, TimeUnit.MINUTES));
        Status status = Status.fromThrowable(streamRefusal.getCause());
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode(), status.toString());
        assertEquals(
                OversizedMessages.message("EmbedStream", oversized.getSerializedSize(), 4L << 20),
                status.getDescription());

        AddToGalleryRequest.Builder add = AddToGalleryRequest.newBuilder().setModel("gallery");
        for (int i = 0; i < 12; i++) {
            add.addItems(GalleryItem.newBuilder()
                    .setId("img-" + i)
                    .setLabel(i < 6 ? "left" : "right")
                    .setImage(raw(p.bytes()[i])));
        }
        assertEquals(12, encoder.addToGallery(add.build()).getGallerySize());
        SearchResponse s = encoder.search(SearchRequest.newBuilder()
                .setModel("gallery")
                .setK(3)
                .addQueries(raw(p.bytes()[2]))
                .addQueries(png(p.bytes()[9]))
                .build());
        assertEquals("img-2", s.getResults(0).getNeighbors(0).getId());
        assertEquals(1.0, s.getResults(0).getNeighbors(0).getScore(), 1e-4);
        assertEquals(3, s.getResults(0).getNeighborsCount());
        assertEquals("img-9", s.getResults(1).getNeighbors(0).getId());
        assertTrue(s.getResults(0).getNeighbors(0).getScore()
                >= s.getResults(0).getNeighbors(1).getScore());
        assertTrue(!s.getResults(0).getPredictedLabel().isEmpty());
        assertEquals(
                12,
                encoder.getModel(GetModelRequest.newBuilder().setName("gallery").build())
                        .getGallerySize());
    }

    static Status.Code code(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    @Test
    void aDecompressionBombIsRefusedFromItsHeader() throws Exception {
        byte[] bundle = TestBundles.convnet(CHANNELS, SIZE, 8, 1, 43);
        publish("bombproof", bundle);
        assertEquals(
                HealthCheckResponse.ServingStatus.SERVING,
                HealthGrpc.newBlockingStub(channel)
                        .check(HealthCheckRequest.getDefaultInstance())
                        .getStatus(),
                "with a model to serve, gRPC health says SERVING, as /q/health/ready says UP");
        byte[] bomb = TestImages.claimingPng(46000);
        long t0 = System.nanoTime();
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class,
                () -> encoder.embed(EmbedRequest.newBuilder()
                        .setModel("bombproof")
                        .addImages(Image.newBuilder().setEncoded(ByteString.copyFrom(bomb)))
                        .build()));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(
                e.getStatus()
                        .getDescription()
                        .contains("46000x46000 pixels; the limit is 16777216 pixels per image "
                                + "(selfsup.max-image-pixels)"),
                e.getStatus().getDescription());
        assertTrue(seconds < 2, "refused before decoding, in " + seconds + " s");
    }

    @Test
    void badInputGetsAClearStatus() throws Exception {
        byte[] bundle = TestBundles.convnet(CHANNELS, SIZE, 8, 1, 41);
        publish("strict", bundle);
        Pictures p = pictures(1, 2);
        EmbedRequest.Builder ok = EmbedRequest.newBuilder().setModel("strict");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> encoder.embed(ok.clone().build())),
                "empty batch");
        EmbedRequest.Builder tooMany = ok.clone();
        for (int i = 0; i < 257; i++) {
            tooMany.addImages(raw(p.bytes()[0]));
        }
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> encoder.embed(tooMany.build())), "over the limit");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> encoder.embed(ok.clone()
                        .addImages(Image.newBuilder().setEncoded(ByteString.copyFromUtf8("not an image")))
                        .build())),
                "undecodable");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> encoder.embed(ok.clone()
                        .addImages(Image.newBuilder()
                                .setRaw(RawImage.newBuilder()
                                        .setHeight(SIZE)
                                        .setWidth(SIZE)
                                        .setChannels(3)
                                        .setData(ByteString.copyFrom(new byte[3 * SIZE * SIZE]))))
                        .build())),
                "wrong channels");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> encoder.embed(ok.clone()
                        .addImages(Image.newBuilder()
                                .setRaw(RawImage.newBuilder()
                                        .setHeight(20)
                                        .setWidth(20)
                                        .setChannels(1)
                                        .setData(ByteString.copyFrom(new byte[400]))))
                        .build())),
                "wrong size");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> encoder.embed(ok.clone()
                        .addImages(Image.newBuilder()
                                .setRaw(RawImage.newBuilder()
                                        .setHeight(SIZE)
                                        .setWidth(SIZE)
                                        .setChannels(1)
                                        .setData(ByteString.copyFrom(new byte[7]))))
                        .build())),
                "short data");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() ->
                        encoder.embed(ok.clone().addImages(Image.newBuilder()).build())),
                "no pixels");
        assertEquals(
                Status.Code.NOT_FOUND,
                code(() -> encoder.embed(EmbedRequest.newBuilder()
                        .setModel("nope")
                        .addImages(raw(p.bytes()[0]))
                        .build())),
                "unknown model");
        assertEquals(
                Status.Code.NOT_FOUND,
                code(() -> encoder.embed(
                        ok.clone().setVersion(9).addImages(raw(p.bytes()[0])).build())),
                "unknown version");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> encoder.embed(EmbedRequest.newBuilder()
                        .setModel("../etc")
                        .addImages(raw(p.bytes()[0]))
                        .build())),
                "bad name");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> encoder.embed(
                        EmbedRequest.newBuilder().addImages(raw(p.bytes()[0])).build())),
                "no model");
        double refusedBefore = requests("Embed", "RESOURCE_EXHAUSTED");
        double internalBefore = requests("Embed", "INTERNAL");
        EmbedRequest oversized = ok.clone()
                .addImages(Image.newBuilder().setEncoded(ByteString.copyFrom(new byte[5 << 20])))
                .build();
        StatusRuntimeException tooBig = assertThrows(StatusRuntimeException.class, () -> encoder.embed(oversized));
        // The HTTP-port gRPC server (vertx-grpc 4.5) ends such a call at the message's header; OversizedMessages
        // gives that refusal its text.
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, tooBig.getStatus().getCode(), "message over the limit");
        assertEquals(
                OversizedMessages.message("Embed", oversized.getSerializedSize(), 4L << 20),
                tooBig.getStatus().getDescription(),
                "the refusal says the size and the limit");
        // The transport answers at the message's header and hands the service the request's end once it has skipped
        // the bytes: that end is counted as refused for its size, not as an internal error (gRPC's unary handler
        // used to answer it INTERNAL on the ended response).
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (requests("Embed", "RESOURCE_EXHAUSTED") == refusedBefore
                && requests("Embed", "INTERNAL") == internalBefore
                && System.nanoTime() < until) {
            Thread.sleep(50);
        }
        assertEquals(internalBefore, requests("Embed", "INTERNAL"), "an internal error was counted");
        assertEquals(refusedBefore + 1, requests("Embed", "RESOURCE_EXHAUSTED"), "the refusal was counted");
        assertEquals(
                Status.Code.FAILED_PRECONDITION,
                code(() -> encoder.search(SearchRequest.newBuilder()
                        .setModel("strict")
                        .addQueries(raw(p.bytes()[0]))
                        .build())),
                "empty gallery");
        assertEquals(
                Status.Code.NOT_FOUND,
                code(() -> encoder.unloadModel(UnloadModelRequest.newBuilder()
                        .setName("strict")
                        .setVersion(5)
                        .build())),
                "unload unknown version");

        // Corrupt, truncated, mislabelled and foreign bundles: INVALID_ARGUMENT, and v1 keeps serving.
        byte[] corrupt = bundle.clone();
        corrupt[corrupt.length / 2] ^= 0x55;
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> publish("strict", corrupt)), "corrupt bundle");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> publish(
                        ModelManifest.newBuilder()
                                .setName("strict")
                                .setSizeBytes(bundle.length)
                                .setSha256(sha256(corrupt))
                                .build(),
                        bundle)),
                "checksum mismatch");
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> publish(
                        ModelManifest.newBuilder()
                                .setName("strict")
                                .setSizeBytes(bundle.length + 10)
                                .setSha256(sha256(bundle))
                                .build(),
                        bundle)),
                "cut short");
        byte[] foreign = TensorArchive.toBytes("{\"kind\":\"checkpoint\"}", Map.of());
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> publish("strict", foreign)), "not an encoder");
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> publish("strict", "hello".getBytes())), "not a bundle");
        assertEquals(
                Status.Code.RESOURCE_EXHAUSTED,
                code(() -> publish(
                        ModelManifest.newBuilder()
                                .setName("strict")
                                .setSizeBytes(1L << 40)
                                .setSha256(sha256(bundle))
                                .build(),
                        bundle)),
                "too big");
        var versions = encoder.listModels(
                        ListModelsRequest.newBuilder().setName("strict").build())
                .getModelsList();
        assertEquals(1, versions.size(), "failed publishes leave no version: " + versions);
        float[] expected = TestBundles.embedInProcess(bundle, p.floats(), 1);
        assertClose(
                expected, encoder.embed(ok.clone().addImages(raw(p.bytes()[0])).build()), 32);
    }

    @Test
    void aPassedDeadlineIsNotComputedAndAFullQueueRefusesAtOnce() throws Exception {
        // A model slow enough on a CPU that requests queue behind each other.
        publish("slow", TestBundles.convnet(CHANNELS, 32, 64, 2, 51));
        byte[] big = new byte[32 * 32];
        EmbedRequest.Builder b = EmbedRequest.newBuilder().setModel("slow");
        for (int i = 0; i < 256; i++) {
            b.addImages(Image.newBuilder()
                    .setRaw(RawImage.newBuilder()
                            .setHeight(32)
                            .setWidth(32)
                            .setChannels(1)
                            .setData(ByteString.copyFrom(big))));
        }
        EmbedRequest heavy = b.build();
        var async = EncoderServiceGrpc.newStub(channel);
        double skippedBefore = metric("selfsup_encoder_skipped_images_total");
        // Both batch workers (two in the test profile) busy with a request each.
        CompletableFuture<EmbedResponse> first = new CompletableFuture<>();
        async.withDeadlineAfter(2, TimeUnit.MINUTES).embed(heavy, observer(first));
        CompletableFuture<EmbedResponse> alsoFirst = new CompletableFuture<>();
        async.withDeadlineAfter(2, TimeUnit.MINUTES).embed(heavy, observer(alsoFirst));
        Thread.sleep(300);
        // Queued behind them; its deadline passes while it waits.
        CompletableFuture<EmbedResponse> late = new CompletableFuture<>();
        async.withDeadlineAfter(400, TimeUnit.MILLISECONDS).embed(heavy, observer(late));
        // The queue holds 512 images in the test profile: one more full request fits, the next is refused.
        CompletableFuture<EmbedResponse> second = new CompletableFuture<>();
        async.withDeadlineAfter(2, TimeUnit.MINUTES).embed(heavy, observer(second));
        Thread.sleep(300);
        StatusRuntimeException full = assertThrows(StatusRuntimeException.class, () -> encoder.embed(heavy));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, full.getStatus().getCode(), "queue full: " + full.getStatus());
        assertEquals(
                Status.Code.DEADLINE_EXCEEDED,
                assertThrows(StatusRuntimeException.class, () -> join(late))
                        .getStatus()
                        .getCode());
        assertEquals(256, join(first).getEmbeddingsCount());
        assertEquals(256, join(alsoFirst).getEmbeddingsCount());
        assertEquals(256, join(second).getEmbeddingsCount());
        assertEquals(
                256,
                metric("selfsup_encoder_skipped_images_total") - skippedBefore,
                1e-9,
                "the late request was dropped, not computed");
        String metrics = scrape();
        for (String name : List.of(
                "selfsup_encoder_requests_total",
                "selfsup_encoder_images_total",
                "selfsup_encoder_request_seconds_bucket",
                "selfsup_encoder_queue_wait_seconds_bucket",
                "selfsup_encoder_batch_size_images_bucket",
                "selfsup_encoder_queue_depth_images",
                "selfsup_encoder_models_loaded",
                "selfsup_encoder_model_load_seconds_count")) {
            assertTrue(metrics.contains(name), name + " missing from /q/metrics");
        }
        assertTrue(metrics.contains("status=\"RESOURCE_EXHAUSTED\""));
        // The Grafana dashboard's encoder panels query only metrics this service exports.
        String dashboard = Files.readString(Path.of("../deploy/grafana/dashboards/selfsup.json"));
        List<String> panelMetrics = Pattern.compile("selfsup_encoder_[a-z0-9_]+")
                .matcher(dashboard)
                .results()
                .map(MatchResult::group)
                .distinct()
                .toList();
        assertTrue(panelMetrics.size() >= 5, "encoder panels: " + panelMetrics);
        panelMetrics.forEach(
                m -> assertTrue(metrics.contains(m + "{") || metrics.contains(m + " "), m + " not exported"));
        encoder.unloadModel(UnloadModelRequest.newBuilder().setName("slow").build());
    }

    String scrape() throws Exception {
        return TestHttp.get("http://localhost:" + port + "/q/metrics").body();
    }

    /** Calls of {@code method} that ended with {@code status}, as counted in /q/metrics. */
    double requests(String method, String status) throws Exception {
        return scrape().lines()
                .filter(l -> l.startsWith("selfsup_encoder_requests_total{")
                        && l.contains("method=\"" + method + "\"")
                        && l.contains("status=\"" + status + "\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .sum();
    }

    double metric(String name) throws Exception {
        for (String line : scrape().split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }
}
