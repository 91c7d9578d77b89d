package dev.selfsup.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.testing.TestHttp;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DecodeRequest;
import dev.selfsup.proto.v1.GetTokenizerRequest;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.ListTokenizersRequest;
import dev.selfsup.proto.v1.RawImage;
import dev.selfsup.proto.v1.TokenGrid;
import dev.selfsup.proto.v1.TokenizeRequest;
import dev.selfsup.proto.v1.TokenizeResponse;
import dev.selfsup.proto.v1.TokenizerEvent;
import dev.selfsup.proto.v1.TokenizerInfo;
import dev.selfsup.proto.v1.TokenizerKind;
import dev.selfsup.proto.v1.TokenizerServiceGrpc;
import dev.selfsup.proto.v1.TokenizerSpec;
import dev.selfsup.service.testing.AccessMatrix;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.MatchResult;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The tokenizer-service over a real channel: training, tokenize and decode, streams, bad input, metrics. */
@QuarkusTest
@QuarkusTestResource(ColourFolderResource.class)
class TokenizerServiceTest {
    /** The operator token of the test profile (application.properties). */
    static final ClientSecurity OPERATOR = ClientSecurity.token("test-operator-token");

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    ManagedChannel channel;
    TokenizerServiceGrpc.TokenizerServiceBlockingStub tokenizers;

    @BeforeEach
    void open() {
        channel = Grpc.newChannelBuilderForAddress("localhost", port, OPERATOR.channelCredentials())
                .build();
        tokenizers = TokenizerServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void close() {
        channel.shutdownNow();
    }

    static DatasetRef shapes() {
        return DatasetRef.newBuilder()
                .setPath("shapes")
                .setImageSize(16)
                .setChannels(3)
                .build();
    }

    /** Trains (once per JVM) and returns the tokenizer's final event. */
    TokenizerInfo trained(String name, TokenizerKind kind, List<TokenizerEvent> events) {
        try {
            return tokenizers.getTokenizer(
                    GetTokenizerRequest.newBuilder().setName(name).build());
        } catch (StatusRuntimeException notYet) {
            assertEquals(Status.Code.NOT_FOUND, notYet.getStatus().getCode());
        }
        Iterator<TokenizerEvent> it = tokenizers
                .withDeadlineAfter(3, TimeUnit.MINUTES)
                .trainTokenizer(TokenizerSpec.newBuilder()
                        .setName(name)
                        .setKind(kind)
                        .setDataset(shapes())
                        .setVocabularySize(16)
                        .setPatchSize(4)
                        .setSteps(40)
                        .setBatchSize(32)
                        .setHidden(16)
                        .setCodeDim(8)
                        .build());
        TokenizerInfo done = null;
        while (it.hasNext()) {
            TokenizerEvent e = it.next();
            events.add(e);
            if (e.hasDone()) {
                done = e.getDone();
            }
        }
        assertTrue(done != null, "the stream ends with the finished tokenizer");
        return done;
    }

    @ConfigProperty(name = "selfsup.tokenizer.dir")
    java.nio.file.Path storeDir;

    @Test
    void aStoreThatCannotBeWrittenIsFoundBeforeTraining() throws Exception {
        // Tests run as root, for whom permissions do not stop a write: a file where the folder was does.
        java.nio.file.Path moved = storeDir.resolveSibling(storeDir.getFileName() + ".moved");
        java.nio.file.Files.move(storeDir, moved);
        java.nio.file.Files.writeString(storeDir, "not a folder");
        try {
            long t0 = System.nanoTime();
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class,
                    () -> tokenizers
                            .trainTokenizer(TokenizerSpec.newBuilder()
                                    .setName("never-stored")
                                    .setKind(TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES)
                                    .setDataset(shapes())
                                    .setVocabularySize(16)
                                    .setPatchSize(4)
                                    .setSteps(40)
                                    .build())
                            .hasNext());
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
            assertTrue(e.getStatus().getDescription().contains("cannot be written"), e.toString());
            assertTrue(System.nanoTime() - t0 < 30_000_000_000L, "refused before training");
        } finally {
            java.nio.file.Files.delete(storeDir);
            java.nio.file.Files.move(moved, storeDir);
        }
    }

    @Test
    void longValuesInEveryStringFieldGetShortMessages() throws Exception {
        dev.selfsup.service.testing.LongValues.check(
                port, dev.selfsup.proto.v1.TokenizerServiceGrpc.getServiceDescriptor());
    }

    @Test
    void everyMethodHasItsRole() throws Exception {
        AccessMatrix.check(
                port,
                TokenizerServiceGrpc.getServiceDescriptor(),
                Set.of("ListTokenizers", "GetTokenizer", "Tokenize", "TokenizeStream", "Decode"));
    }

    @Test
    void trainsAVqTokenizerAndReportsItsQuality() throws Exception {
        List<TokenizerEvent> events = new ArrayList<>();
        TokenizerInfo info = trained("vq-shapes", TokenizerKind.TOKENIZER_KIND_VQ, events);
        assertEquals(4, info.getGridSize());
        assertEquals(16, info.getVocabularySize());
        assertEquals(32, info.getQuality().getImages(), "the test split is the held-out set");
        // 40 steps on 96 images only shows the mechanics; the quality numbers come from bench/tokenizer-bench.
        assertTrue(
                info.getQuality().getPsnr() > 5
                        && Double.isFinite(info.getQuality().getPsnr()),
                "psnr " + info.getQuality().getPsnr());
        assertTrue(info.getQuality().getCodebookUsage() > 0 && info.getQuality().getPerplexity() >= 1);
        long progress = events.stream().filter(TokenizerEvent::hasProgress).count();
        assertTrue(progress >= 2, "progress is streamed: " + progress);
        TokenizerEvent last = events.stream()
                .filter(TokenizerEvent::hasProgress)
                .reduce((a, b) -> b)
                .orElseThrow();
        assertEquals(40, last.getProgress().getStep());
        TokenizerEvent first =
                events.stream().filter(TokenizerEvent::hasProgress).findFirst().orElseThrow();
        assertTrue(
                last.getProgress().getMse() < first.getProgress().getMse(),
                "reconstruction improves: " + first.getProgress().getMse() + " -> "
                        + last.getProgress().getMse());
        assertTrue(tokenizers.listTokenizers(ListTokenizersRequest.getDefaultInstance()).getTokenizersList().stream()
                .anyMatch(t -> t.getName().equals("vq-shapes")));
        // The folder was read from disk (ColourFolderResource): its decoding is counted.
        String metrics = TestHttp.get("http://localhost:" + port + "/q/metrics").body();
        double decoded = metrics.lines()
                .filter(l -> l.startsWith("selfsup_data_decoded_images_total{dataset=\"shapes/train\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .sum();
        assertTrue(decoded >= 96, "images decoded from disk: " + decoded);
        assertTrue(metrics.contains("selfsup_data_decode_thread_seconds_total{dataset=\"shapes/train\""));
    }

    static Image raw(byte[] hwc) {
        return Image.newBuilder()
                .setRaw(RawImage.newBuilder()
                        .setHeight(16)
                        .setWidth(16)
                        .setChannels(3)
                        .setData(ByteString.copyFrom(hwc)))
                .build();
    }

    static byte[] chwToHwc(byte[] chw) {
        byte[] hwc = new byte[chw.length];
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < 256; p++) {
                hwc[p * 3 + c] = chw[c * 256 + p];
            }
        }
        return hwc;
    }

    @Test
    void tokenizeThenDecodeRoundTrips() {
        trained("km-shapes", TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES, new ArrayList<>());
        byte[] a = new byte[16 * 16 * 3];
        byte[] b = new byte[16 * 16 * 3];
        for (int i = 0; i < a.length; i++) {
            a[i] = (byte) (i % 3 == 0 && (i / 48) < 8 ? 200 : 16);
            b[i] = (byte) (i % 3 == 2 ? 180 : 16);
        }
        TokenizeResponse first = tokenizers.tokenize(TokenizeRequest.newBuilder()
                .setTokenizer("km-shapes")
                .addImages(raw(a))
                .addImages(raw(b))
                .build());
        assertEquals(2, first.getGridsCount());
        assertEquals(4, first.getGrids(0).getRows());
        assertEquals(16, first.getGrids(0).getIdsCount());
        var decoded = tokenizers.decode(DecodeRequest.newBuilder()
                .setTokenizer("km-shapes")
                .addAllGrids(first.getGridsList())
                .build());
        assertEquals(2, decoded.getPngCount());
        // The decoded pictures are PNGs of the tokenizer's size, and they tokenize to the same grids again.
        TokenizeRequest.Builder again = TokenizeRequest.newBuilder().setTokenizer("km-shapes");
        for (ByteString png : decoded.getPngList()) {
            byte[] chw = ImageCodec.decodeChw(png.toByteArray(), 3, 16);
            again.addImages(Image.newBuilder().setEncoded(png));
            assertEquals(3 * 16 * 16, chw.length);
        }
        TokenizeResponse second = tokenizers.tokenize(again.build());
        for (int i = 0; i < 2; i++) {
            assertEquals(first.getGrids(i).getIdsList(), second.getGrids(i).getIdsList(), "grid " + i);
        }
    }

    @Test
    void tokenizeStreamAnswersInOrder() throws Exception {
        trained("km-shapes", TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES, new ArrayList<>());
        List<TokenizeResponse> got = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        StreamObserver<TokenizeRequest> up = TokenizerServiceGrpc.newStub(channel)
                .tokenizeStream(new StreamObserver<>() {
                    @Override
                    public void onNext(TokenizeResponse r) {
                        got.add(r);
                    }

                    @Override
                    public void onError(Throwable t) {
                        done.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        done.countDown();
                    }
                });
        for (int i = 1; i <= 6; i++) {
            TokenizeRequest.Builder r = TokenizeRequest.newBuilder().setTokenizer("km-shapes");
            for (int k = 0; k < i; k++) {
                r.addImages(raw(new byte[768]));
            }
            up.onNext(r.build());
        }
        up.onCompleted();
        assertTrue(done.await(60, TimeUnit.SECONDS));
        assertEquals(6, got.size());
        for (int i = 0; i < 6; i++) {
            assertEquals(i + 1, got.get(i).getGridsCount(), "response " + i + " answers request " + i);
        }
    }

    @Test
    void tokenizeStreamStopsReadingWhileTheClientDoesNotRead() throws Exception {
        trained("km-shapes", TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES, new ArrayList<>());
        // A client that reads nothing, with the smallest HTTP/2 window: the server may compute only what fits in the
        // window and its own write queue, not every request the client sent.
        ManagedChannel slow = NettyChannelBuilder.forAddress("localhost", port, OPERATOR.channelCredentials())
                .flowControlWindow(65535)
                .build();
        try {
            double before = streamImages();
            int requests = 40;
            int perRequest = 256;
            UnreadStream stream = new UnreadStream(slow, requests, perRequest);
            Thread.sleep(3000);
            double computed = (streamImages() - before) / perRequest;
            assertTrue(computed >= 1 && computed <= 25, computed + " of " + requests + " requests computed unread");
            stream.call.request(Integer.MAX_VALUE);
            assertTrue(stream.end.get(60, TimeUnit.SECONDS).isOk());
            assertEquals(requests, stream.answers.size(), "every answer comes once the client reads");
            assertEquals(perRequest, stream.answers.get(requests - 1).getGridsCount());
        } finally {
            slow.shutdownNow();
        }
    }

    @ConfigProperty(name = "selfsup.streams.max-held-bytes")
    long streamBudget;

    @Test
    void manyIdleStreamsShareOneByteBudget() throws Exception {
        trained("km-shapes", TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES, new ArrayList<>());
        // Six clients that send 24 requests of 340 images (261 kB each) and read nothing. The service takes one
        // request per stream and the transport queues up to 16 more (3.7 MB a stream, measured without a budget):
        // about three such streams fit in the test profile's budget of 12 MiB, six do not. The bytes held stay within
        // the budget; the streams that would
        // pass it are refused with a message naming it; the others are served in full once their clients read.
        ManagedChannel slow = NettyChannelBuilder.forAddress("localhost", port, OPERATOR.channelCredentials())
                .flowControlWindow(65535)
                .build();
        int streams = 6;
        int requests = 24;
        int perRequest = 340;
        try {
            List<UnreadStream> idle = new ArrayList<>();
            for (int s = 0; s < streams; s++) {
                idle.add(new UnreadStream(slow, requests, perRequest));
            }
            double most = 0;
            for (int i = 0; i < 40; i++) {
                Thread.sleep(100);
                double held = gauge("selfsup_tokenizer_stream_held_bytes");
                assertTrue(held <= streamBudget, held + " bytes held, over the budget of " + streamBudget);
                most = Math.max(most, held);
            }
            assertTrue(most > streamBudget / 2, "idle streams held " + most + " bytes: are they counted?");

            for (UnreadStream stream : idle) {
                stream.call.request(Integer.MAX_VALUE);
            }
            int refused = 0;
            int served = 0;
            for (UnreadStream stream : idle) {
                Status status = stream.end.get(2, TimeUnit.MINUTES);
                if (status.isOk()) {
                    served++;
                    assertEquals(requests, stream.answers.size(), "a stream under the budget is served in full");
                } else {
                    refused++;
                    assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode(), status.toString());
                    assertTrue(
                            status.getDescription().startsWith("TokenizeStream: the streams open on this service hold")
                                    && status.getDescription().contains("selfsup.streams.max-held-bytes"),
                            status.getDescription());
                }
            }
            assertTrue(refused >= 1 && served >= 1, refused + " refused, " + served + " served");
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (gauge("selfsup_tokenizer_stream_held_bytes") > 0 && System.nanoTime() < until) {
                Thread.sleep(50);
            }
            assertEquals(0.0, gauge("selfsup_tokenizer_stream_held_bytes"), "every byte given back");
            assertTrue(
                    requestsCounted("TokenizeStream", "RESOURCE_EXHAUSTED") >= refused,
                    "refusals are counted as RESOURCE_EXHAUSTED");
        } finally {
            slow.shutdownNow();
        }
    }

    /**
     * A TokenizeStream whose client sends {@code requests} requests of {@code perRequest} blank images of "km-shapes",
     * ends its side, and reads no answer until {@code call.request} says so.
     */
    static final class UnreadStream {
        final List<TokenizeResponse> answers = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> end = new CompletableFuture<>();
        ClientCallStreamObserver<TokenizeRequest> call;

        UnreadStream(ManagedChannel channel, int requests, int perRequest) {
            StreamObserver<TokenizeRequest> up = TokenizerServiceGrpc.newStub(channel)
                    .withDeadlineAfter(2, TimeUnit.MINUTES)
                    .tokenizeStream(new ClientResponseObserver<TokenizeRequest, TokenizeResponse>() {
                        @Override
                        public void beforeStart(ClientCallStreamObserver<TokenizeRequest> requestStream) {
                            requestStream.disableAutoRequestWithInitial(0);
                            call = requestStream;
                        }

                        @Override
                        public void onNext(TokenizeResponse r) {
                            answers.add(r);
                        }

                        @Override
                        public void onError(Throwable t) {
                            end.complete(Status.fromThrowable(t));
                        }

                        @Override
                        public void onCompleted() {
                            end.complete(Status.OK);
                        }
                    });
            TokenizeRequest.Builder r = TokenizeRequest.newBuilder().setTokenizer("km-shapes");
            for (int k = 0; k < perRequest; k++) {
                r.addImages(raw(new byte[768]));
            }
            TokenizeRequest request = r.build();
            for (int i = 0; i < requests; i++) {
                up.onNext(request);
            }
            up.onCompleted();
        }
    }

    /** A gauge without labels from /q/metrics. */
    private double gauge(String name) throws Exception {
        String metrics = TestHttp.get("http://localhost:" + port + "/q/metrics").body();
        for (String line : metrics.split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError(name + " is not in /q/metrics");
    }

    /** Calls of a method counted with a status, from /q/metrics. */
    private double requestsCounted(String method, String status) throws Exception {
        String metrics = TestHttp.get("http://localhost:" + port + "/q/metrics").body();
        for (String line : metrics.split("\n")) {
            if (line.startsWith("selfsup_tokenizer_requests_total{")
                    && line.contains("method=\"" + method + "\"")
                    && line.contains("status=\"" + status + "\"")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }

    /** Images tokenized by TokenizeStream so far, from /q/metrics. */
    private double streamImages() throws Exception {
        String metrics = TestHttp.get("http://localhost:" + port + "/q/metrics").body();
        for (String line : metrics.split("\n")) {
            if (line.startsWith("selfsup_tokenizer_images_total{")
                    && line.contains("method=\"TokenizeStream\"")
                    && line.contains("tokenizer=\"km-shapes\"")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }

    @Test
    void badInputGetsClearStatus() throws Exception {
        trained("km-shapes", TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES, new ArrayList<>());
        assertStatus(
                Status.Code.NOT_FOUND,
                "no tokenizer named",
                () -> tokenizers.tokenize(TokenizeRequest.newBuilder()
                        .setTokenizer("nope")
                        .addImages(raw(new byte[768]))
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "empty",
                () -> tokenizers.tokenize(
                        TokenizeRequest.newBuilder().setTokenizer("km-shapes").build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "16x16x3",
                () -> tokenizers.tokenize(TokenizeRequest.newBuilder()
                        .setTokenizer("km-shapes")
                        .addImages(Image.newBuilder()
                                .setRaw(RawImage.newBuilder()
                                        .setHeight(8)
                                        .setWidth(8)
                                        .setChannels(3)
                                        .setData(ByteString.copyFrom(new byte[192]))))
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "not a PNG or JPEG",
                () -> tokenizers.tokenize(TokenizeRequest.newBuilder()
                        .setTokenizer("km-shapes")
                        .addImages(Image.newBuilder().setEncoded(ByteString.copyFromUtf8("not a png")))
                        .build()));
        TokenGrid ok = TokenGrid.newBuilder()
                .setRows(4)
                .setCols(4)
                .addAllIds(Collections.nCopies(16, 1))
                .build();
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "vocabulary is 0..15",
                () -> tokenizers.decode(DecodeRequest.newBuilder()
                        .setTokenizer("km-shapes")
                        .addGrids(ok.toBuilder().setIds(3, 16))
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "makes 4x4 grids",
                () -> tokenizers.decode(DecodeRequest.newBuilder()
                        .setTokenizer("km-shapes")
                        .addGrids(TokenGrid.newBuilder().setRows(2).setCols(2).addAllIds(List.of(1, 2, 3, 4)))
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "grids is empty",
                () -> tokenizers.decode(
                        DecodeRequest.newBuilder().setTokenizer("km-shapes").build()));
        assertStatus(
                Status.Code.ALREADY_EXISTS,
                "exists",
                () -> tokenizers
                        .trainTokenizer(TokenizerSpec.newBuilder()
                                .setName("km-shapes")
                                .setDataset(shapes())
                                .build())
                        .hasNext());
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "name",
                () -> tokenizers
                        .trainTokenizer(TokenizerSpec.newBuilder()
                                .setName("Bad Name")
                                .setDataset(shapes())
                                .build())
                        .hasNext());
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "patch_size",
                () -> tokenizers
                        .trainTokenizer(TokenizerSpec.newBuilder()
                                .setName("odd")
                                .setDataset(shapes())
                                .setPatchSize(5)
                                .build())
                        .hasNext());
        assertStatus(
                Status.Code.PERMISSION_DENIED,
                "absolute",
                () -> tokenizers
                        .trainTokenizer(TokenizerSpec.newBuilder()
                                .setName("etc")
                                .setDataset(DatasetRef.newBuilder().setPath("/etc"))
                                .build())
                        .hasNext());
        assertStatus(
                Status.Code.NOT_FOUND,
                "nope",
                () -> tokenizers.getTokenizer(
                        GetTokenizerRequest.newBuilder().setName("nope").build()));

        String metrics = TestHttp.get("http://localhost:" + port + "/q/metrics").body();
        for (String name : List.of(
                "selfsup_tokenizer_images_total",
                "selfsup_tokenizer_request_seconds_bucket",
                "selfsup_tokenizer_requests_total",
                "selfsup_tokenizer_tokenizers",
                "selfsup_tokenizer_training_step")) {
            assertTrue(metrics.contains(name), name + " missing from /q/metrics");
        }
        assertTrue(metrics.contains("status=\"NOT_FOUND\""));
        // The Grafana dashboard's tokenizer panels query only metrics this service exports.
        String dashboard = Files.readString(Path.of("../deploy/grafana/dashboards/selfsup.json"));
        var queried = Pattern.compile("selfsup_tokenizer_[a-z0-9_]+")
                .matcher(dashboard)
                .results()
                .map(MatchResult::group)
                .distinct()
                .toList();
        assertTrue(queried.size() >= 2, "tokenizer panels: " + queried);
        queried.forEach(m -> assertTrue(metrics.contains(m + "{") || metrics.contains(m + " "), m + " not exported"));
    }

    static void assertStatus(Status.Code code, String inMessage, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        String d = String.valueOf(e.getStatus().getDescription());
        assertTrue(d.contains(inMessage), "message '" + d + "' should mention '" + inMessage + "'");
    }
}
