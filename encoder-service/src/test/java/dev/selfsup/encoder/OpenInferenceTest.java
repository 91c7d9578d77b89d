package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.PixelType;
import dev.selfsup.proto.v1.RawImage;
import dev.selfsup.service.testing.AccessMatrix;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import oip.client.GRPCInferenceServiceGrpc;
import oip.client.InferParameter;
import oip.client.InferTensorContents;
import oip.client.ModelInferRequest;
import oip.client.ModelInferResponse;
import oip.client.ModelMetadataRequest;
import oip.client.ModelMetadataResponse;
import oip.client.ModelReadyRequest;
import oip.client.ServerLiveRequest;
import oip.client.ServerMetadataRequest;
import oip.client.ServerReadyRequest;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Open Inference Protocol on the encoder-service, called through stubs generated from the protocol's own
 * definition ({@code src/test/proto}), and by plain HTTP: every RPC, every input form, the same vectors as Embed,
 * the protocol's errors.
 */
@QuarkusTest
class OpenInferenceTest {
    static final int SIZE = 16;
    static final int CHANNELS = 3;
    static final ClientSecurity READER = ClientSecurity.token(AccessMatrix.READER_TOKEN);

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    ManagedChannel channel;
    GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip;
    EncoderServiceGrpc.EncoderServiceBlockingStub encoder;
    EncoderServiceTest publisher;

    @BeforeEach
    void connect() {
        channel = Grpc.newChannelBuilderForAddress("localhost", port, READER.channelCredentials())
                .maxInboundMessageSize(64 << 20)
                .build();
        oip = GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES);
        encoder = EncoderServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES);
        publisher = new EncoderServiceTest();
        publisher.port = port;
        publisher.connect();
    }

    @AfterEach
    void close() {
        channel.shutdownNow();
        publisher.close();
    }

    /** {@code n} random RGB images, channels last. */
    static byte[][] pictures(int n, long seed) {
        Random r = new Random(seed);
        byte[][] b = new byte[n][SIZE * SIZE * CHANNELS];
        for (byte[] x : b) {
            r.nextBytes(x);
        }
        return b;
    }

    float[] embed(String model, byte[][] hwc) {
        EmbedRequest.Builder req = EmbedRequest.newBuilder().setModel(model);
        for (byte[] x : hwc) {
            req.addImages(Image.newBuilder()
                    .setRaw(RawImage.newBuilder()
                            .setHeight(SIZE)
                            .setWidth(SIZE)
                            .setChannels(CHANNELS)
                            .setType(PixelType.PIXEL_TYPE_UINT8)
                            .setData(ByteString.copyFrom(x))));
        }
        EmbedResponse r = encoder.embed(req.build());
        int dim = r.getEmbeddings(0).getValuesCount();
        float[] out = new float[hwc.length * dim];
        for (int i = 0; i < hwc.length; i++) {
            for (int j = 0; j < dim; j++) {
                out[i * dim + j] = r.getEmbeddings(i).getValues(j);
            }
        }
        return out;
    }

    static ModelInferRequest.InferInputTensor.Builder input(String name, String datatype, long... shape) {
        ModelInferRequest.InferInputTensor.Builder t =
                ModelInferRequest.InferInputTensor.newBuilder().setName(name).setDatatype(datatype);
        for (long d : shape) {
            t.addShape(d);
        }
        return t;
    }

    static float[] values(ModelInferResponse r) {
        if (r.getRawOutputContentsCount() > 0) {
            ByteBuffer b = r.getRawOutputContents(0).asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            float[] f = new float[b.remaining() / 4];
            b.asFloatBuffer().get(f);
            return f;
        }
        List<Float> l = r.getOutputs(0).getContents().getFp32ContentsList();
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = l.get(i);
        }
        return f;
    }

    static void assertSame(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertTrue(
                    Math.abs(expected[i] - actual[i]) <= 1e-6f,
                    what + " value " + i + ": Embed " + expected[i] + ", ModelInfer " + actual[i]);
        }
    }

    @Test
    void everyRpcAndEveryInputFormGivesEmbedsVectors() throws Exception {
        publisher.publish("oip", TestBundles.convnet(CHANNELS, SIZE, 8, 1, 5));
        assertTrue(oip.serverLive(ServerLiveRequest.getDefaultInstance()).getLive());
        assertTrue(oip.serverReady(ServerReadyRequest.getDefaultInstance()).getReady());
        assertEquals(
                200,
                HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/q/health/ready"))
                                        .build(),
                                HttpResponse.BodyHandlers.discarding())
                        .statusCode(),
                "ServerReady agrees with /q/health/ready");
        assertEquals(
                "selfsup-encoder-service",
                oip.serverMetadata(ServerMetadataRequest.getDefaultInstance()).getName());
        assertTrue(oip.modelReady(ModelReadyRequest.newBuilder().setName("oip").build())
                .getReady());
        assertTrue(oip.modelReady(ModelReadyRequest.newBuilder()
                        .setName("oip")
                        .setVersion("1")
                        .build())
                .getReady());
        assertFalse(oip.modelReady(ModelReadyRequest.newBuilder()
                        .setName("oip")
                        .setVersion("9")
                        .build())
                .getReady());
        assertFalse(oip.modelReady(
                        ModelReadyRequest.newBuilder().setName("no-such-model").build())
                .getReady());

        ModelMetadataResponse meta = oip.modelMetadata(
                ModelMetadataRequest.newBuilder().setName("oip").build());
        assertEquals("oip", meta.getName());
        assertTrue(meta.getVersionsList().contains("1"), meta.toString());
        assertEquals(3, meta.getInputsCount());
        assertEquals("image", meta.getInputs(0).getName());
        assertEquals("UINT8", meta.getInputs(0).getDatatype());
        assertEquals(
                List.of(-1L, (long) SIZE, (long) SIZE, (long) CHANNELS),
                meta.getInputs(0).getShapeList());
        assertEquals("FP32", meta.getInputs(1).getDatatype());
        assertEquals(List.of(-1L), meta.getInputs(2).getShapeList());
        assertEquals("embedding", meta.getOutputs(0).getName());
        long dim = meta.getOutputs(0).getShape(1);
        assertEquals(List.of(-1L, dim), meta.getOutputs(0).getShapeList());

        byte[][] pics = pictures(3, 1);
        float[] expected = embed("oip", pics);
        assertEquals(3 * dim, expected.length);
        ByteString raw = ByteString.copyFrom(concat(pics));

        // UINT8, raw and typed.
        ModelInferResponse r = oip.modelInfer(ModelInferRequest.newBuilder()
                .setModelName("oip")
                .setId("req-1")
                .addInputs(input("image", "UINT8", 3, SIZE, SIZE, CHANNELS))
                .addRawInputContents(raw)
                .build());
        assertEquals("req-1", r.getId());
        assertEquals("1", r.getModelVersion());
        assertEquals(List.of(3L, dim), r.getOutputs(0).getShapeList());
        assertEquals("FP32", r.getOutputs(0).getDatatype());
        assertEquals(1, r.getRawOutputContentsCount(), "raw inputs give raw outputs");
        assertSame(expected, values(r), "UINT8 raw");
        InferTensorContents.Builder typed = InferTensorContents.newBuilder();
        for (byte x : raw.toByteArray()) {
            typed.addUintContents(x & 0xff);
        }
        r = oip.modelInfer(ModelInferRequest.newBuilder()
                .setModelName("oip")
                .setModelVersion("1")
                .addInputs(input("image", "UINT8", 3, SIZE, SIZE, CHANNELS).setContents(typed))
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
                        .setName("embedding"))
                .build());
        assertEquals(0, r.getRawOutputContentsCount(), "typed inputs give typed outputs");
        assertSame(expected, values(r), "UINT8 typed");

        // FP32 in [0, 1], raw and typed.
        ByteBuffer fp = ByteBuffer.allocate(raw.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
        InferTensorContents.Builder typedFloats = InferTensorContents.newBuilder();
        for (byte x : raw.toByteArray()) {
            fp.putFloat((x & 0xff) / 255f);
            typedFloats.addFp32Contents((x & 0xff) / 255f);
        }
        r = oip.modelInfer(ModelInferRequest.newBuilder()
                .setModelName("oip")
                .addInputs(input("image_fp32", "FP32", 3, SIZE, SIZE, CHANNELS))
                .addRawInputContents(ByteString.copyFrom(fp.array()))
                .build());
        assertSame(expected, values(r), "FP32 raw");
        r = oip.modelInfer(ModelInferRequest.newBuilder()
                .setModelName("oip")
                .addInputs(input("image_fp32", "FP32", 3, SIZE, SIZE, CHANNELS).setContents(typedFloats))
                .build());
        assertSame(expected, values(r), "FP32 typed");

        // BYTES of PNG files, raw (length-prefixed) and typed; normalize as a request parameter.
        ByteString.Output prefixed = ByteString.newOutput();
        InferTensorContents.Builder files = InferTensorContents.newBuilder();
        for (byte[] p : pics) {
            byte[] png = ImageCodec.encodePng(chw(p), CHANNELS, SIZE, SIZE);
            prefixed.write(ByteBuffer.allocate(4)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(png.length)
                    .array());
            prefixed.write(png);
            files.addBytesContents(ByteString.copyFrom(png));
        }
        r = oip.modelInfer(ModelInferRequest.newBuilder()
                .setModelName("oip")
                .addInputs(input("image_bytes", "BYTES", 3))
                .addRawInputContents(prefixed.toByteString())
                .build());
        assertSame(expected, values(r), "BYTES raw");
        r = oip.modelInfer(ModelInferRequest.newBuilder()
                .setModelName("oip")
                .putParameters(
                        "normalize",
                        InferParameter.newBuilder().setBoolParam(true).build())
                .addInputs(input("image_bytes", "BYTES", 3).setContents(files))
                .build());
        float[] unit = values(r);
        double norm = 0;
        for (int j = 0; j < dim; j++) {
            norm += unit[j] * unit[j];
        }
        assertEquals(1.0, norm, 1e-5, "normalize");
        // Counted like every other call, and the images like Embed's.
        String metrics = dev.selfsup.core.testing.TestHttp.get("http://localhost:" + port + "/q/metrics")
                .body();
        assertTrue(
                metrics.lines()
                        .anyMatch(l -> l.startsWith("selfsup_encoder_requests_total")
                                && l.contains("method=\"ModelInfer\"")
                                && l.contains("status=\"OK\"")),
                "ModelInfer is counted");
        assertTrue(metrics.lines()
                .anyMatch(l -> l.startsWith("selfsup_encoder_images_total") && l.contains("model=\"oip\"")));
    }

    @Test
    void badRequestsGetTheProtocolsStatusesWithClearMessages() {
        publisher.publish("oip-bad", TestBundles.convnet(CHANNELS, SIZE, 8, 1, 6));
        ByteString raw = ByteString.copyFrom(concat(pictures(2, 2)));
        assertRefused(
                Status.Code.NOT_FOUND,
                "no model named 'ghost'",
                ModelInferRequest.newBuilder()
                        .setModelName("ghost")
                        .addInputs(input("image", "UINT8", 2, SIZE, SIZE, CHANNELS))
                        .addRawInputContents(raw));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "not a version number",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .setModelVersion("latest")
                        .addInputs(input("image", "UINT8", 2, SIZE, SIZE, CHANNELS))
                        .addRawInputContents(raw));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "no input named 'pixels'",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("pixels", "UINT8", 2, SIZE, SIZE, CHANNELS))
                        .addRawInputContents(raw));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "input 'image' is UINT8",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("image", "FP32", 2, SIZE, SIZE, CHANNELS))
                        .addRawInputContents(raw));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "needs 1536 bytes",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("image", "UINT8", 2, SIZE, SIZE, CHANNELS))
                        .addRawInputContents(raw.substring(0, 1536 / 2 + 1)));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "but the model takes 16x16x3",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("image", "UINT8", 2, 8, 8, CHANNELS * 4))
                        .addRawInputContents(raw));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "send exactly one",
                ModelInferRequest.newBuilder().setModelName("oip-bad"));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "the only output is 'embedding'",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("image", "UINT8", 2, SIZE, SIZE, CHANNELS))
                        .addRawInputContents(raw)
                        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
                                .setName("logits")));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "the limit per request is 256",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("image", "UINT8", 100_000, SIZE, SIZE, CHANNELS))
                        .addRawInputContents(raw));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "claims 999 bytes",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("image_bytes", "BYTES", 1))
                        .addRawInputContents(ByteString.copyFrom(new byte[] {(byte) 0xe7, 3, 0, 0, 1, 2})));
        assertRefused(
                Status.Code.INVALID_ARGUMENT,
                "not a PNG or JPEG",
                ModelInferRequest.newBuilder()
                        .setModelName("oip-bad")
                        .addInputs(input("image_bytes", "BYTES", 1)
                                .setContents(InferTensorContents.newBuilder()
                                        .addBytesContents(ByteString.copyFromUtf8("hi")))));
        StatusRuntimeException e = assertThrows(
                StatusRuntimeException.class,
                () -> oip.modelMetadata(
                        ModelMetadataRequest.newBuilder().setName("ghost").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    void assertRefused(Status.Code code, String text, ModelInferRequest.Builder request) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> oip.modelInfer(request.build()));
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(text), e.getStatus().getDescription());
        assertFalse(
                e.getStatus().getDescription().contains("Exception"),
                e.getStatus().getDescription());
    }

    @Test
    void everyRpcNeedsAReaderToken() throws Exception {
        AccessMatrix.check(
                port,
                GRPCInferenceServiceGrpc.getServiceDescriptor(),
                Set.of("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"));
    }

    @Test
    void theRestFormSharesTheCodePath() throws Exception {
        publisher.publish("oip-rest", TestBundles.convnet(CHANNELS, SIZE, 8, 1, 7));
        HttpClient http = HttpClient.newHttpClient();
        String base = "http://localhost:" + port + "/v2";
        assertEquals(
                401,
                http.send(
                                HttpRequest.newBuilder(URI.create(base + "/models/oip-rest"))
                                        .build(),
                                HttpResponse.BodyHandlers.discarding())
                        .statusCode(),
                "no token, no answer");
        assertEquals(200, get(http, base + "/health/live").statusCode());
        assertEquals(200, get(http, base + "/health/ready").statusCode());
        assertEquals(200, get(http, base + "/models/oip-rest/ready").statusCode());
        assertEquals(400, get(http, base + "/models/oip-rest/versions/7/ready").statusCode());
        HttpResponse<String> meta = get(http, base + "/models/oip-rest");
        assertEquals(200, meta.statusCode(), meta.body());
        JsonObject m = new JsonObject(meta.body());
        assertEquals("UINT8", m.getJsonArray("inputs").getJsonObject(0).getString("datatype"));
        assertEquals(
                new JsonArray(List.of(-1, SIZE, SIZE, CHANNELS)),
                m.getJsonArray("inputs").getJsonObject(0).getJsonArray("shape"));

        byte[][] pics = pictures(2, 3);
        float[] expected = embed("oip-rest", pics);
        // Nested [N][H][W][C] arrays, as a JSON client writes an image tensor.
        JsonArray images = new JsonArray();
        for (byte[] p : pics) {
            JsonArray rows = new JsonArray();
            for (int y = 0; y < SIZE; y++) {
                JsonArray row = new JsonArray();
                for (int x = 0; x < SIZE; x++) {
                    JsonArray px = new JsonArray();
                    for (int c = 0; c < CHANNELS; c++) {
                        px.add(p[(y * SIZE + x) * CHANNELS + c] & 0xff);
                    }
                    row.add(px);
                }
                rows.add(row);
            }
            images.add(rows);
        }
        JsonObject body = new JsonObject()
                .put("id", "rest-1")
                .put(
                        "inputs",
                        new JsonArray()
                                .add(new JsonObject()
                                        .put("name", "image")
                                        .put("datatype", "UINT8")
                                        .put("shape", new JsonArray(List.of(2, SIZE, SIZE, CHANNELS)))
                                        .put("data", images)));
        HttpResponse<String> answer = post(http, base + "/models/oip-rest/infer", body.encode());
        assertEquals(200, answer.statusCode(), answer.body());
        JsonObject out = new JsonObject(answer.body()).getJsonArray("outputs").getJsonObject(0);
        assertEquals("embedding", out.getString("name"));
        JsonArray data = out.getJsonArray("data");
        float[] got = new float[data.size()];
        for (int i = 0; i < got.length; i++) {
            got[i] = data.getFloat(i);
        }
        assertSame(expected, got, "REST UINT8");

        // BYTES as base64 strings, on a named version.
        JsonArray b64 = new JsonArray();
        for (byte[] p : pics) {
            b64.add(Base64.getEncoder().encodeToString(ImageCodec.encodePng(chw(p), CHANNELS, SIZE, SIZE)));
        }
        answer = post(
                http,
                base + "/models/oip-rest/versions/1/infer",
                new JsonObject()
                        .put(
                                "inputs",
                                new JsonArray()
                                        .add(new JsonObject()
                                                .put("name", "image_bytes")
                                                .put("datatype", "BYTES")
                                                .put("shape", new JsonArray(List.of(2)))
                                                .put("data", b64)))
                        .encode());
        assertEquals(200, answer.statusCode(), answer.body());

        HttpResponse<String> bad = post(
                http,
                base + "/models/oip-rest/infer",
                "{\"inputs\": [{\"name\": \"image\","
                        + " \"datatype\": \"UINT8\", \"shape\": [1, 16, 16, 3], \"data\": [300]}]}");
        assertEquals(400, bad.statusCode(), bad.body());
        assertTrue(new JsonObject(bad.body()).getString("error").contains("0 to 255"), bad.body());
        HttpResponse<String> ghost = post(http, base + "/models/ghost/infer", body.encode());
        assertEquals(404, ghost.statusCode(), ghost.body());
        HttpResponse<String> notJson = post(http, base + "/models/oip-rest/infer", "{not json");
        assertEquals(400, notJson.statusCode(), notJson.body());
        assertTrue(new JsonObject(notJson.body()).getString("error").contains("not a JSON object"), notJson.body());
    }

    private HttpResponse<String> get(HttpClient http, String url) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create(url))
                        .header("authorization", "Bearer " + AccessMatrix.READER_TOKEN)
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(HttpClient http, String url, String json) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create(url))
                        .header("authorization", "Bearer " + AccessMatrix.READER_TOKEN)
                        .header("content-type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(json))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static byte[] concat(byte[][] images) {
        byte[] out = new byte[images.length * images[0].length];
        for (int i = 0; i < images.length; i++) {
            System.arraycopy(images[i], 0, out, i * images[i].length, images[i].length);
        }
        return out;
    }

    /** HWC bytes to CHW, as ImageCodec.encodePng takes them. */
    static byte[] chw(byte[] hwc) {
        int plane = SIZE * SIZE;
        byte[] out = new byte[hwc.length];
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < CHANNELS; c++) {
                out[c * plane + p] = hwc[p * CHANNELS + c];
            }
        }
        return out;
    }
}
