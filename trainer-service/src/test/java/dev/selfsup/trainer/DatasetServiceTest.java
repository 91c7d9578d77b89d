package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.proto.v1.CreateDatasetRequest;
import dev.selfsup.proto.v1.DatasetFile;
import dev.selfsup.proto.v1.DatasetInfo;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DatasetServiceGrpc;
import dev.selfsup.proto.v1.DatasetState;
import dev.selfsup.proto.v1.DeleteDatasetRequest;
import dev.selfsup.proto.v1.EvalResult;
import dev.selfsup.proto.v1.EvaluateRunRequest;
import dev.selfsup.proto.v1.FileHeader;
import dev.selfsup.proto.v1.GetDatasetRequest;
import dev.selfsup.proto.v1.ListDatasetFilesRequest;
import dev.selfsup.proto.v1.ListDatasetFilesResponse;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.proto.v1.SealDatasetRequest;
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import dev.selfsup.proto.v1.UploadFilesRequest;
import dev.selfsup.proto.v1.UploadFilesResponse;
import dev.selfsup.service.testing.AccessMatrix;
import dev.selfsup.service.testing.LongValues;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Datasets over a real gRPC channel: images uploaded in chunks, an upload cut off and resumed, sealed, trained on and
 * evaluated; bad files, quotas and roles refused with statuses a person can act on.
 */
@QuarkusTest
@QuarkusTestResource(TinyDataResource.class)
@QuarkusTestResource(FakeEncoderService.class)
@QuarkusTestResource(FakeTokenizerService.class)
class DatasetServiceTest {
    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    ManagedChannel channel;
    DatasetServiceGrpc.DatasetServiceBlockingStub datasets;
    TrainerServiceGrpc.TrainerServiceBlockingStub trainer;

    @BeforeEach
    void connect() {
        channel = Grpc.newChannelBuilderForAddress("localhost", port, TrainerServiceTest.OPERATOR.channelCredentials())
                .build();
        datasets = DatasetServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES);
        trainer = TrainerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.MINUTES);
    }

    @AfterEach
    void close() {
        channel.shutdownNow();
    }

    /** A 16x16 grey PNG: a bright square in the quadrant of its class, as TinyDataResource draws them. */
    static byte[] png(int cls, Random r) {
        byte[] chw = new byte[16 * 16];
        int y0 = (cls / 2) * 8 + r.nextInt(3);
        int x0 = (cls % 2) * 8 + r.nextInt(3);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                boolean on = y >= y0 && y < y0 + 5 && x >= x0 && x < x0 + 5;
                chw[y * 16 + x] = (byte) (on ? 180 + r.nextInt(70) : r.nextInt(50));
            }
        }
        return ImageCodec.encodePng(chw, 1, 16, 16);
    }

    record Item(String split, String label, String name, byte[] bytes) {}

    static List<Item> items(String split, int n, long seed) {
        Random r = new Random(seed);
        List<Item> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Item(split, "class" + (i % 4), split + i + ".png", png(i % 4, r)));
        }
        return out;
    }

    /** The messages of one upload: each file's header, then its bytes in chunks of {@code chunk}. */
    static List<UploadFilesRequest> messages(String dataset, List<Item> items, int chunk) {
        List<UploadFilesRequest> out = new ArrayList<>();
        for (Item it : items) {
            FileHeader h = FileHeader.newBuilder()
                    .setName(it.name())
                    .setLabel(it.label())
                    .setSplit(it.split())
                    .setSize(it.bytes().length)
                    .build();
            for (int off = 0; off < it.bytes().length; off += chunk) {
                UploadFilesRequest.Builder m = UploadFilesRequest.newBuilder()
                        .setData(ByteString.copyFrom(it.bytes(), off, Math.min(chunk, it.bytes().length - off)));
                if (off == 0) {
                    m.setFile(h);
                }
                if (out.isEmpty()) {
                    m.setDataset(dataset);
                }
                out.add(m.build());
            }
        }
        return out;
    }

    /** Sends the messages; cancels the call after {@code cutAfter} of them (-1: half-closes normally). */
    UploadFilesResponse send(List<UploadFilesRequest> messages, int cutAfter) throws Exception {
        CompletableFuture<UploadFilesResponse> answer = new CompletableFuture<>();
        ClientCallStreamObserver<UploadFilesRequest> in = (ClientCallStreamObserver<UploadFilesRequest>)
                DatasetServiceGrpc.newStub(channel).uploadFiles(new StreamObserver<>() {
                    @Override
                    public void onNext(UploadFilesResponse r) {
                        answer.complete(r);
                    }

                    @Override
                    public void onError(Throwable t) {
                        answer.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {}
                });
        for (int i = 0; i < messages.size(); i++) {
            if (i == cutAfter) {
                // Cut once the server has stored every file sent whole so far (it reads one message at a time).
                long whole = messages.subList(0, i).stream()
                                .filter(UploadFilesRequest::hasFile)
                                .count()
                        - 1;
                String dataset = messages.get(0).getDataset();
                long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
                while (names(dataset).size() < whole && System.nanoTime() < end) {
                    Thread.sleep(20);
                }
                in.cancel("the client went away", null);
                Thread.sleep(300);
                return null;
            }
            in.onNext(messages.get(i));
        }
        in.onCompleted();
        try {
            return answer.get(1, TimeUnit.MINUTES);
        } catch (java.util.concurrent.ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    Set<String> names(String dataset) {
        Set<String> out = new HashSet<>();
        String token = "";
        do {
            ListDatasetFilesResponse page = datasets.listDatasetFiles(ListDatasetFilesRequest.newBuilder()
                    .setName(dataset)
                    .setPageSize(7)
                    .setPageToken(token)
                    .build());
            page.getFilesList().stream().map(DatasetFile::getName).forEach(out::add);
            token = page.getNextPageToken();
        } while (!token.isEmpty());
        return out;
    }

    @Test
    void uploadCutResumeSealTrainAndEvaluate() throws Exception {
        datasets.createDataset(
                CreateDatasetRequest.newBuilder().setName("quadrants").build());
        List<Item> train = items("train", 64, 1);
        List<Item> test = items("test", 16, 2);
        List<Item> all = new ArrayList<>(train);
        all.addAll(test);
        List<UploadFilesRequest> messages = messages("quadrants", all, 50);
        // The connection breaks in the middle of a file: the whole files stay, the broken one does not.
        int cut = messages.size() / 2;
        while (messages.get(cut).hasFile()) {
            cut++; // inside a file: its header went, its last bytes do not
        }
        send(messages, cut);
        Set<String> arrived = names("quadrants");
        long whole = messages.subList(0, cut).stream()
                        .filter(UploadFilesRequest::hasFile)
                        .count()
                - 1;
        assertEquals(whole, arrived.size(), "every file sent whole arrived, the cut one did not");

        // Resume: send only what is missing.
        List<Item> rest = all.stream().filter(i -> !arrived.contains(i.name())).toList();
        UploadFilesResponse done = send(messages("quadrants", rest, 100), -1);
        assertEquals(rest.size(), done.getFiles());
        assertEquals(80, done.getDataset().getFiles());
        assertEquals(DatasetState.DATASET_STATE_OPEN, done.getDataset().getState());

        StatusRuntimeException open = assertThrows(
                StatusRuntimeException.class,
                () -> trainer.startRun(TrainerServiceTest.tinySpec(8)
                        .setDataset(uploaded("quadrants"))
                        .build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, open.getStatus().getCode());
        assertTrue(
                open.getStatus().getDescription().contains("seal"),
                open.getStatus().getDescription());

        DatasetInfo sealed = datasets.sealDataset(
                SealDatasetRequest.newBuilder().setName("quadrants").build());
        assertEquals(DatasetState.DATASET_STATE_READY, sealed.getState());
        assertEquals(
                64,
                sealed.getSplitsList().stream()
                        .filter(s -> s.getSplit().equals("train"))
                        .findFirst()
                        .orElseThrow()
                        .getFiles());
        assertEquals(64, sealed.getSha256().length());

        Run run = trainer.startRun(TrainerServiceTest.tinySpec(200)
                .setBatchSize(16)
                .setDataset(uploaded("quadrants"))
                .build());
        StatusRuntimeException busy = assertThrows(
                StatusRuntimeException.class,
                () -> datasets.deleteDataset(
                        DeleteDatasetRequest.newBuilder().setName("quadrants").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, busy.getStatus().getCode());
        assertTrue(
                busy.getStatus().getDescription().contains(run.getRunId()),
                busy.getStatus().getDescription());
        trainer.cancelRun(dev.selfsup.proto.v1.CancelRunRequest.newBuilder()
                .setRunId(run.getRunId())
                .build());

        Run shortRun = trainer.startRun(TrainerServiceTest.tinySpec(6)
                .setBatchSize(16)
                .setDataset(uploaded("quadrants"))
                .build());
        Run finished = waitFor(shortRun.getRunId());
        assertEquals(RunState.RUN_STATE_SUCCEEDED, finished.getState(), finished.getError());
        EvalResult eval = trainer.evaluateRun(
                EvaluateRunRequest.newBuilder().setRunId(shortRun.getRunId()).build());
        assertEquals(64, eval.getTrainImages());
        assertEquals(16, eval.getTestImages());
        assertTrue(eval.getKnnAccuracy() > 0.25, "better than chance on four classes: " + eval.getKnnAccuracy());

        waitFor(run.getRunId());
        datasets.deleteDataset(
                DeleteDatasetRequest.newBuilder().setName("quadrants").build());
        assertEquals(
                Status.Code.NOT_FOUND,
                assertThrows(
                                StatusRuntimeException.class,
                                () -> datasets.getDataset(GetDatasetRequest.newBuilder()
                                        .setName("quadrants")
                                        .build()))
                        .getStatus()
                        .getCode());
    }

    @Test
    void badFilesAreRefusedAndNotKept() throws Exception {
        datasets.createDataset(
                CreateDatasetRequest.newBuilder().setName("refusals").build());
        byte[] ok = png(0, new Random(3));
        byte[] bomb = ok.clone();
        java.nio.ByteBuffer.wrap(bomb, 16, 8).putInt(100_000).putInt(100_000);
        record Case(Item item, Status.Code code, String says) {}
        List<Case> cases = List.of(
                new Case(new Item("train", "", "bomb.png", bomb), Status.Code.INVALID_ARGUMENT, "pixels"),
                new Case(
                        new Item("train", "", "text.png", "not an image".getBytes()),
                        Status.Code.INVALID_ARGUMENT,
                        "not a PNG or JPEG"),
                new Case(new Item("train", "", "../up.png", ok), Status.Code.INVALID_ARGUMENT, "not allowed"),
                new Case(new Item("valid", "", "a.png", ok), Status.Code.INVALID_ARGUMENT, "train, test"));
        for (Case c : cases) {
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class, () -> send(messages("refusals", List.of(c.item()), 64), -1));
            assertEquals(c.code(), e.getStatus().getCode(), c.item().name());
            assertTrue(
                    e.getStatus().getDescription().contains(c.says()),
                    e.getStatus().getDescription());
        }
        UploadFilesRequest huge = UploadFilesRequest.newBuilder()
                .setDataset("refusals")
                .setFile(FileHeader.newBuilder().setName("huge.png").setSize(1L << 40))
                .build();
        StatusRuntimeException tooBig = assertThrows(StatusRuntimeException.class, () -> send(List.of(huge), -1));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, tooBig.getStatus().getCode());
        assertTrue(
                tooBig.getStatus().getDescription().contains("selfsup.datasets.max-file-bytes"),
                tooBig.getStatus().getDescription());
        StatusRuntimeException noSuch = assertThrows(
                StatusRuntimeException.class,
                () -> send(messages("nowhere", List.of(new Item("train", "", "a.png", ok)), 64), -1));
        assertEquals(Status.Code.NOT_FOUND, noSuch.getStatus().getCode());
        assertEquals(Set.of(), names("refusals"), "nothing refused was kept");
        datasets.deleteDataset(
                DeleteDatasetRequest.newBuilder().setName("refusals").build());
    }

    @Test
    void readersListAndOperatorsChange() throws Exception {
        AccessMatrix.check(
                port,
                DatasetServiceGrpc.getServiceDescriptor(),
                Set.of("GetDataset", "ListDatasets", "ListDatasetFiles"));
    }

    @Test
    void longValuesInEveryStringFieldGetShortMessages() throws Exception {
        LongValues.check(port, DatasetServiceGrpc.getServiceDescriptor());
    }

    static DatasetRef uploaded(String name) {
        return DatasetRef.newBuilder()
                .setUploaded(name)
                .setChannels(1)
                .setImageSize(16)
                .build();
    }

    Run waitFor(String id) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
        while (System.nanoTime() < end) {
            Run r = trainer.getRun(
                    dev.selfsup.proto.v1.GetRunRequest.newBuilder().setRunId(id).build());
            if (r.getState() != RunState.RUN_STATE_QUEUED && r.getState() != RunState.RUN_STATE_RUNNING) {
                return r;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("run " + id + " did not end");
    }
}
