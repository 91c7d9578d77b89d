package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.numerics.CpuIsaGuard;
import dev.selfsup.core.testing.TestHttp;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.proto.v1.Backbone;
import dev.selfsup.proto.v1.CancelRunRequest;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DeleteRunRequest;
import dev.selfsup.proto.v1.DevicePreference;
import dev.selfsup.proto.v1.EvalResult;
import dev.selfsup.proto.v1.EvalSpec;
import dev.selfsup.proto.v1.EvaluateRunRequest;
import dev.selfsup.proto.v1.ExportEncoderRequest;
import dev.selfsup.proto.v1.GetRunRequest;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ListRunsRequest;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.PublishEncoderRequest;
import dev.selfsup.proto.v1.ResumeRunRequest;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import dev.selfsup.proto.v1.WatchRunRequest;
import dev.selfsup.service.testing.AccessMatrix;
import dev.selfsup.service.testing.LongValues;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The trainer over a real gRPC channel: runs, watchers, evaluation, export, cancel/resume, bad input, metrics. */
@QuarkusTest
@QuarkusTestResource(TinyDataResource.class)
@QuarkusTestResource(FakeEncoderService.class)
@QuarkusTestResource(FakeTokenizerService.class)
class TrainerServiceTest {
    /** The operator token of the test profile (application.properties). */
    static final ClientSecurity OPERATOR = ClientSecurity.token("test-operator-token");

    @ConfigProperty(name = "selfsup.var-dir")
    Path varDir;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @ConfigProperty(name = "selfsup.data-root")
    Path dataRoot;

    ManagedChannel channel;
    TrainerServiceGrpc.TrainerServiceBlockingStub trainer;

    @BeforeEach
    void connect() {
        channel = Grpc.newChannelBuilderForAddress("localhost", port, OPERATOR.channelCredentials())
                .build();
        trainer = TrainerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.MINUTES);
    }

    @AfterEach
    void close() {
        channel.shutdownNow();
    }

    static RunSpec.Builder tinySpec(long steps) {
        return RunSpec.newBuilder()
                .setName("tiny")
                .setMethod(Method.METHOD_SIMCLR)
                .setDataset(DatasetRef.newBuilder().setPath("tiny"))
                .setSteps(steps)
                .setBatchSize(32)
                .setWidth(4)
                .setProjectionDim(8)
                .setCheckpointEverySteps(5)
                .setDevice(DevicePreference.DEVICE_PREFERENCE_CPU);
    }

    /** Collects a run's events on a background stream. */
    static final class Watcher implements StreamObserver<RunEvent> {
        final List<RunEvent> events = new CopyOnWriteArrayList<>();
        final CountDownLatch done = new CountDownLatch(1);
        volatile Throwable error;

        @Override
        public void onNext(RunEvent e) {
            events.add(e);
        }

        @Override
        public void onError(Throwable t) {
            error = t;
            done.countDown();
        }

        @Override
        public void onCompleted() {
            done.countDown();
        }

        Run lastRun() {
            Run r = null;
            for (RunEvent e : events) {
                if (e.hasRun()) {
                    r = e.getRun();
                }
            }
            return r;
        }
    }

    Watcher watch(String id) {
        Watcher w = new Watcher();
        TrainerServiceGrpc.newStub(channel)
                .watchRun(WatchRunRequest.newBuilder().setRunId(id).build(), w);
        return w;
    }

    @Test
    void everyMethodHasItsRole() throws Exception {
        AccessMatrix.check(port, TrainerServiceGrpc.getServiceDescriptor(), Set.of("GetRun", "ListRuns", "WatchRun"));
    }

    @Test
    void longValuesInEveryStringFieldGetShortMessages() throws Exception {
        // WatchRun of an unknown id ends at once; no method starts anything with such values.
        LongValues.check(port, TrainerServiceGrpc.getServiceDescriptor());
    }

    @Test
    void healthAndInfo() throws Exception {
        HealthCheckResponse h = HealthGrpc.newBlockingStub(channel)
                .check(HealthCheckRequest.newBuilder().build());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, h.getStatus());
        var info = SystemServiceGrpc.newBlockingStub(channel).getServerInfo(GetServerInfoRequest.getDefaultInstance());
        assertEquals("trainer-service", info.getService());
        assertEquals("cpu()", info.getDevice());
        assertTrue(info.getNumericsCheck().startsWith("passed: "), info.getNumericsCheck());
        assertEquals(CpuIsaGuard.apply().describe(), info.getCpuIsa());
        HttpResponse<String> ready = TestHttp.get("http://localhost:" + port + "/q/health/ready");
        assertEquals(200, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("PyTorch"), ready.body());
    }

    @jakarta.inject.Inject
    RunTable table;

    /** Callers lock the table they were given: it must be the object whose methods lock {@code this}. */
    @Test
    void theRunTableIsGivenAsItselfNotAsAProxy() {
        assertEquals(RunTable.class, table.getClass(), "a proxy's monitor is not the table's");
    }

    @Test
    void runWatchedByTwoClientsThenEvaluatedAndExported() throws Exception {
        Run run = trainer.startRun(tinySpec(24).build());
        assertEquals(RunState.RUN_STATE_QUEUED, run.getState());
        assertEquals(24, run.getTotalSteps());
        assertEquals(0.2f, run.getSpec().getTemperature(), 1e-6, "defaults are filled into the effective spec");
        Watcher a = watch(run.getRunId());
        Watcher b = watch(run.getRunId());
        assertTrue(a.done.await(4, TimeUnit.MINUTES) && b.done.await(1, TimeUnit.MINUTES), "watchers complete");
        for (Watcher w : List.of(a, b)) {
            assertEquals(null, w.error);
            assertTrue(w.events.get(0).hasRun(), "the first event is the current state");
            assertEquals(RunState.RUN_STATE_SUCCEEDED, w.lastRun().getState());
            assertTrue(w.events.stream().anyMatch(RunEvent::hasProgress), "progress events while training");
            assertTrue(w.events.stream().anyMatch(RunEvent::hasCheckpoint), "checkpoint events");
            var states = w.events.stream()
                    .filter(RunEvent::hasRun)
                    .map(e -> e.getRun().getState())
                    .toList();
            for (int i = 1; i < states.size(); i++) {
                assertTrue(states.get(i) != states.get(i - 1), "a state is sent again only when it changed: " + states);
            }
        }
        var progress = a.events.stream()
                .filter(RunEvent::hasProgress)
                .map(RunEvent::getProgress)
                .toList();
        assertTrue(progress.get(progress.size() - 1).getStep() == 24);
        assertTrue(progress.stream().allMatch(p -> Double.isFinite(p.getLoss()) && p.getImagesPerSecond() > 0));

        Run done = trainer.getRun(
                GetRunRequest.newBuilder().setRunId(run.getRunId()).build());
        assertEquals(24, done.getStep());
        assertEquals(24, done.getCheckpointStep());
        assertTrue(
                trainer
                        .listRuns(ListRunsRequest.newBuilder()
                                .addStates(RunState.RUN_STATE_SUCCEEDED)
                                .build())
                        .getRunsList()
                        .stream()
                        .anyMatch(r -> r.getRunId().equals(run.getRunId())));

        EvalResult eval = trainer.evaluateRun(EvaluateRunRequest.newBuilder()
                .setRunId(run.getRunId())
                .setSpec(EvalSpec.newBuilder().setKnnK(10))
                .build());
        assertEquals(256, eval.getTrainImages());
        assertEquals(64, eval.getTestImages());
        assertEquals(16, eval.getFeatureDim());
        assertTrue(eval.getKnnAccuracy() > 0.25 && eval.getLinearAccuracy() > 0.25, eval.toString());

        Iterator<ModelChunk> chunks = trainer.exportEncoder(
                ExportEncoderRequest.newBuilder().setRunId(run.getRunId()).build());
        ModelChunk first = chunks.next();
        assertTrue(first.hasManifest());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        chunks.forEachRemaining(c -> bytes.writeBytes(c.getData().toByteArray()));
        assertEquals(first.getManifest().getSizeBytes(), bytes.size());
        assertEquals(
                first.getManifest().getSha256(),
                HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes.toByteArray())));
        assertTrue(first.getManifest().getProvenanceJson().contains("\"method\":\"simclr\""));
        try (var m = NDManager.newBaseManager()) {
            var loaded = EncoderBundle.read(new ByteArrayInputStream(bytes.toByteArray()), "export", m);
            assertEquals(24, loaded.header().provenance().steps());
        }

        // The finished run was published to the configured encoder-service, and its final state says so.
        var upload = FakeEncoderService.UPLOADS.stream()
                .filter(u -> u.manifest().getRunId().equals(run.getRunId()))
                .findFirst()
                .orElseThrow(() -> new AssertionError("the run was not published"));
        assertEquals("tiny", upload.manifest().getName());
        assertEquals(first.getManifest().getSha256(), upload.manifest().getSha256());
        assertEquals(
                first.getManifest().getSha256(),
                HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(upload.bytes())));
        assertTrue(done.getPublishedModel().startsWith("tiny:"), done.getPublishedModel());
        assertTrue(a.lastRun().getPublishedModel().startsWith("tiny:"), "the final event says where it went");
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "model_name 'Fashion Tiny' is not a valid model name",
                () -> trainer.publishEncoder(PublishEncoderRequest.newBuilder()
                        .setRunId(run.getRunId())
                        .setModelName("Fashion Tiny")
                        .build()));
        Run again = trainer.publishEncoder(PublishEncoderRequest.newBuilder()
                .setRunId(run.getRunId())
                .setModelName("fashion-tiny")
                .build());
        assertEquals("fashion-tiny:1", again.getPublishedModel(), "a name is taken as it is, never rewritten");

        String metrics = TestHttp.get("http://localhost:" + port + "/q/metrics").body();
        String runLabel = "run=\"" + run.getRunId() + "\"";
        double images = metricValue(metrics, "selfsup_training_images_total", runLabel);
        assertEquals(24 * 32, images, 0.5);
        assertTrue(metricValue(metrics, "selfsup_training_step_seconds_count", runLabel) == 24);
        assertTrue(metricValue(metrics, "selfsup_training_images_per_second", runLabel) > 0);
        assertTrue(metrics.contains("selfsup_training_runs{state=\"succeeded\"}"), "runs by state");
        assertTrue(metrics.contains("selfsup_training_checkpoint_write_seconds_count{"), "checkpoint writes");
        assertTrue(
                metrics.contains("selfsup_trainer_requests_total{method=\"StartRun\",status=\"OK\"}"),
                "every call is counted by method and status (RequestMetrics)");
        assertTrue(
                metrics.contains(
                        "selfsup_trainer_requests_total{method=\"PublishEncoder\",status=\"INVALID_ARGUMENT\"}"),
                "a refused call is counted with its status");
        // Every training metric a panel of the Grafana dashboard queries is exported by this run.
        Set<String> queried = dashboardMetrics();
        for (String name : queried) {
            assertTrue(
                    name.startsWith("selfsup_training_")
                            || name.startsWith("selfsup_encoder_")
                            || name.startsWith("selfsup_tokenizer_"),
                    name + ": a dashboard metric no service test checks");
            if (name.startsWith("selfsup_training_")) {
                assertTrue(
                        metrics.contains(name + "{") || metrics.contains(name + " "),
                        name + " is on the dashboard but not exported");
            }
        }
        assertTrue(queried.size() >= 10, "the dashboard queries " + queried);
    }

    /** The metric names in every panel query of deploy/grafana/dashboards/selfsup.json. */
    static Set<String> dashboardMetrics() throws IOException {
        JsonNode dashboard = new ObjectMapper()
                .readTree(Path.of("../deploy/grafana/dashboards/selfsup.json").toFile());
        Set<String> names = new TreeSet<>();
        dashboard
                .findValues("expr")
                .forEach(e -> Pattern.compile("selfsup_[a-z0-9_]+")
                        .matcher(e.asText())
                        .results()
                        .forEach(m -> names.add(m.group())));
        return names;
    }

    static double metricValue(String text, String name, String label) {
        for (String line : text.split("\n")) {
            if (line.startsWith(name + "{") && line.contains(label)) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError(name + " with " + label + " not exported");
    }

    /** Waits for the run's fifth step to be checkpointed, then cancels it. */
    void cancelAfterACheckpoint(String id) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 120_000;
        while (trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build()).getCheckpointStep() < 5) {
            assertTrue(System.currentTimeMillis() < deadline, "run makes a checkpoint");
            Thread.sleep(100);
        }
        trainer.cancelRun(CancelRunRequest.newBuilder().setRunId(id).build());
    }

    @Test
    void cancelResumeAndDelete() throws Exception {
        Run run = trainer.startRun(tinySpec(100_000).build());
        String id = run.getRunId();
        Watcher w = watch(id);
        cancelAfterACheckpoint(id);
        assertTrue(w.done.await(60, TimeUnit.SECONDS));
        Run cancelled = w.lastRun();
        assertEquals(RunState.RUN_STATE_CANCELLED, cancelled.getState());
        assertEquals(cancelled.getStep(), cancelled.getCheckpointStep(), "cancelling writes a checkpoint");

        assertStatus(
                Status.Code.FAILED_PRECONDITION,
                () -> trainer.cancelRun(
                        CancelRunRequest.newBuilder().setRunId(id).build()));
        trainer.resumeRun(ResumeRunRequest.newBuilder().setRunId(id).build());
        Watcher w2 = watch(id);
        long deadline = System.currentTimeMillis() + 120_000;
        Run now;
        while ((now = trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build())).getStep()
                <= cancelled.getStep()) {
            assertTrue(System.currentTimeMillis() < deadline, "resumed run makes progress");
            Thread.sleep(100);
        }
        assertEquals(cancelled.getStep(), now.getResumedFromStep(), "resumes from the checkpoint, not from 0");
        assertStatus(
                Status.Code.FAILED_PRECONDITION,
                () -> trainer.deleteRun(
                        DeleteRunRequest.newBuilder().setRunId(id).build()));
        trainer.cancelRun(CancelRunRequest.newBuilder().setRunId(id).build());
        assertTrue(w2.done.await(60, TimeUnit.SECONDS));
        trainer.deleteRun(DeleteRunRequest.newBuilder().setRunId(id).build());
        assertStatus(
                Status.Code.NOT_FOUND,
                () -> trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build()));
    }

    @Test
    void aRunWhoseCheckpointsAreAllCorruptIsNotSilentlyStartedOver() throws Exception {
        Run run = trainer.startRun(tinySpec(100_000).setName("corrupt").build());
        String id = run.getRunId();
        Watcher w = watch(id);
        cancelAfterACheckpoint(id);
        assertTrue(w.done.await(60, TimeUnit.SECONDS));
        Path ckpts = varDir.resolve("runs").resolve(id).resolve("checkpoints");
        List<Path> files;
        try (var s = Files.list(ckpts)) {
            files = s.filter(f -> f.getFileName().toString().endsWith(".ckpt")).toList();
        }
        assertTrue(!files.isEmpty(), "checkpoints were written");
        for (Path f : files) {
            byte[] b = Files.readAllBytes(f);
            b[b.length / 2] ^= 0x5a; // one changed byte: the checksum no longer matches
            Files.write(f, b);
        }
        StatusRuntimeException refused = assertThrows(
                StatusRuntimeException.class,
                () -> trainer.resumeRun(
                        ResumeRunRequest.newBuilder().setRunId(id).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        String why = refused.getStatus().getDescription();
        assertTrue(
                why.contains(files.get(0).getFileName().toString())
                        && why.contains("checksum mismatch")
                        && why.contains("start_over=true"),
                why);
        assertTrue(!why.contains(varDir.toString()), "no server path in the answer: " + why);
        assertEquals(
                RunState.RUN_STATE_CANCELLED,
                trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build()).getState(),
                "a refused resume changes nothing");

        Run again = trainer.resumeRun(
                ResumeRunRequest.newBuilder().setRunId(id).setStartOver(true).build());
        assertEquals(RunState.RUN_STATE_QUEUED, again.getState());
        assertEquals(0, again.getStep(), "a run started over shows step 0");
        long deadline = System.currentTimeMillis() + 120_000;
        Run now;
        while ((now = trainer.getRun(GetRunRequest.newBuilder().setRunId(id).build())).getState()
                        != RunState.RUN_STATE_RUNNING
                || now.getStep() < 2) {
            assertTrue(System.currentTimeMillis() < deadline, "the run starts over when asked");
            Thread.sleep(100);
        }
        assertEquals(0, now.getResumedFromStep(), "asked to start over, it trains from step 0");
        Watcher w2 = watch(id);
        trainer.cancelRun(CancelRunRequest.newBuilder().setRunId(id).build());
        assertTrue(w2.done.await(60, TimeUnit.SECONDS));
        assertEquals(null, w2.error);
        assertEquals(RunState.RUN_STATE_CANCELLED, w2.lastRun().getState(), w2.events.toString());
        trainer.deleteRun(DeleteRunRequest.newBuilder().setRunId(id).build());
    }

    @Test
    void deepClusterReportsNmiBetweenEpochs() throws Exception {
        // 256 images in batches of 32: 8 steps an epoch, three epochs, so two NMIs between successive clusterings.
        Run run = trainer.startRun(tinySpec(24)
                .setName("dc")
                .setMethod(Method.METHOD_DEEPCLUSTER)
                .setClusters(4)
                .setPcaDim(8)
                .build());
        assertEquals(Method.METHOD_DEEPCLUSTER, run.getSpec().getMethod());
        assertEquals(4, run.getSpec().getClusters());
        Watcher w = watch(run.getRunId());
        assertTrue(w.done.await(120, TimeUnit.SECONDS));
        assertEquals(
                RunState.RUN_STATE_SUCCEEDED,
                w.lastRun().getState(),
                w.lastRun().getError());
        List<Double> nmis = new ArrayList<>();
        for (RunEvent e : w.events) {
            if (e.hasProgress() && e.getProgress().containsMethodMetrics("nmi_previous_epoch")) {
                nmis.add(e.getProgress().getMethodMetricsOrThrow("nmi_previous_epoch"));
                double nonEmpty = e.getProgress().getMethodMetricsOrThrow("clusters_non_empty");
                assertTrue(nonEmpty >= 1 && nonEmpty <= 4, "non-empty clusters " + nonEmpty);
            }
        }
        assertFalse(nmis.isEmpty(), "progress carries the NMI after the second epoch's clustering");
        nmis.forEach(v -> assertTrue(v >= 0 && v <= 1, "NMI " + v));
    }

    @Test
    void aRunSplitOverTwoReplicasTrainsAndSaysWhereItRan() throws Exception {
        Run run = trainer.startRun(tinySpec(6)
                .setName("dp")
                .setMethod(Method.METHOD_MOCO_V2)
                .setQueueSize(64)
                .setReplicas(2)
                .build());
        assertEquals(2, run.getSpec().getReplicas());
        assertEquals(
                dev.selfsup.proto.v1.BatchNorm.BATCH_NORM_PER_DEVICE,
                run.getSpec().getBatchNorm(),
                "MoCo v2's batch norm is per replica, with shuffled keys, unless asked otherwise");
        Watcher w = watch(run.getRunId());
        assertTrue(w.done.await(120, TimeUnit.SECONDS));
        Run last = w.lastRun();
        assertEquals(RunState.RUN_STATE_SUCCEEDED, last.getState(), last.getError());
        assertEquals("2 replicas on [cpu(), cpu()]", last.getDevice());
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "replicas: jigsaw trains on one device only",
                () -> trainer.startRun(tinySpec(6)
                        .setMethod(Method.METHOD_JIGSAW)
                        .setReplicas(2)
                        .build()));
    }

    @Test
    void aRunAskedForBfloat16SaysWhatItTrainedIn() throws Exception {
        Run run = trainer.startRun(tinySpec(4)
                .setName("bf16")
                .setPrecision(dev.selfsup.proto.v1.Precision.PRECISION_BFLOAT16)
                .build());
        assertEquals(
                dev.selfsup.proto.v1.Precision.PRECISION_BFLOAT16, run.getSpec().getPrecision());
        Watcher w = watch(run.getRunId());
        assertTrue(w.done.await(120, TimeUnit.SECONDS));
        Run last = w.lastRun();
        assertEquals(RunState.RUN_STATE_SUCCEEDED, last.getState(), last.getError());
        // The build the tests run has the shim and its check passes on any CPU (slower where bfloat16 is emulated).
        assertEquals("bfloat16", last.getPrecision(), last.getPrecisionNote());
        assertEquals("", last.getPrecisionNote());
        Run plain = trainer.startRun(tinySpec(2).setName("f32").build());
        assertEquals(
                dev.selfsup.proto.v1.Precision.PRECISION_FLOAT32,
                plain.getSpec().getPrecision());
        Watcher p = watch(plain.getRunId());
        assertTrue(p.done.await(120, TimeUnit.SECONDS));
        assertEquals("float32", p.lastRun().getPrecision());
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "precision: bfloat16 trains on one device per process",
                () -> trainer.startRun(tinySpec(6)
                        .setPrecision(dev.selfsup.proto.v1.Precision.PRECISION_BFLOAT16)
                        .setReplicas(2)
                        .build()));
    }

    @Test
    void beitTrainsOnTokensFromTheTokenizerService() throws Exception {
        int before = FakeTokenizerService.TOKENIZE_CALLS.get();
        Run run = trainer.startRun(tinySpec(8)
                .setName("beit")
                .setMethod(Method.METHOD_BEIT)
                .setWidth(32)
                .setDepth(1)
                .setTokenizer("tiny-tok")
                .build());
        assertEquals(Backbone.BACKBONE_VIT, run.getSpec().getBackbone(), "BEiT's default backbone");
        assertEquals(0.4f, run.getSpec().getMaskRatio(), 1e-6f);
        Watcher w = watch(run.getRunId());
        assertTrue(w.done.await(120, TimeUnit.SECONDS));
        assertEquals(
                RunState.RUN_STATE_SUCCEEDED,
                w.lastRun().getState(),
                w.lastRun().getError());
        // One Tokenize call per step, made ahead of the step (two more were prefetched past the end).
        assertTrue(
                FakeTokenizerService.TOKENIZE_CALLS.get() - before >= 8,
                "tokenize calls " + (FakeTokenizerService.TOKENIZE_CALLS.get() - before));
        boolean reported = w.events.stream()
                .anyMatch(e -> e.hasProgress() && e.getProgress().containsMethodMetrics("token_wait_share"));
        assertTrue(reported, "progress reports the share of time spent waiting for tokens");
    }

    @Test
    void everySizeIsBoundedAndTheQueueToo() {
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "steps: 4611686018427387904 is over this service's limit of 100000000 (selfsup.trainer.max-steps)",
                () -> trainer.startRun(tinySpec(1L << 62).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "batch_size: 60000 is over this service's limit of 4096 (selfsup.trainer.max-batch-size)",
                () -> trainer.startRun(tinySpec(5).setBatchSize(60000).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "width: 4096 is over this service's limit of 1024 (selfsup.trainer.max-width)",
                () -> trainer.startRun(tinySpec(5).setWidth(4096).build()));
        // One run trains (one worker), 16 wait: 64 StartRun calls at once get no more in, and the refused ones
        // leave nothing recorded. (The bound was checked outside the lock: 50 concurrent calls left 17 waiting.)
        List<String> started = java.util.Collections.synchronizedList(new ArrayList<>());
        List<StatusRuntimeException> refused = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.ExecutorService callers = java.util.concurrent.Executors.newFixedThreadPool(64);
        try {
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<?>> calls = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                calls.add(callers.submit(() -> {
                    go.await();
                    try {
                        started.add(trainer.startRun(tinySpec(100_000).build()).getRunId());
                    } catch (StatusRuntimeException e) {
                        refused.add(e);
                    }
                    return null;
                }));
            }
            go.countDown();
            for (var c : calls) {
                c.get(120, java.util.concurrent.TimeUnit.SECONDS);
            }
            assertTrue(!refused.isEmpty(), "the queue is bounded");
            for (StatusRuntimeException e : refused) {
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.toString());
                assertTrue(
                        e.getStatus().getDescription().contains("selfsup.trainer.max-queued-runs"),
                        e.getStatus().getDescription());
            }
            long queued = trainer.listRuns(ListRunsRequest.newBuilder()
                            .addStates(RunState.RUN_STATE_QUEUED)
                            .build())
                    .getRunsCount();
            assertTrue(queued <= 16, queued + " runs wait, over the limit of 16");
            assertTrue(started.size() == 16 || started.size() == 17, started.size() + " runs started");
            assertEquals(64, started.size() + refused.size());
        } catch (Exception e) {
            throw new AssertionError(e);
        } finally {
            callers.shutdownNow();
            for (String id : started) {
                trainer.cancelRun(CancelRunRequest.newBuilder().setRunId(id).build());
            }
        }
    }

    @Test
    void aRunThatCannotBeRecordedDoesNotExist() throws Exception {
        int before = trainer.listRuns(ListRunsRequest.getDefaultInstance()).getRunsCount();
        Path runs = varDir.resolve("runs");
        Path moved = varDir.resolve("runs.moved");
        // Tests run as root, for whom permissions do not stop a write: a file where the folder was does.
        Files.move(runs, moved);
        Files.writeString(runs, "not a folder");
        try {
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class,
                    () -> trainer.startRun(tinySpec(5).build()));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            assertTrue(
                    e.getStatus().getDescription().contains("read-only"),
                    e.getStatus().getDescription());
            assertFalse(e.getStatus().getDescription().contains(varDir.toString()), "no server path in an answer");
        } finally {
            Files.delete(runs);
            Files.move(moved, runs);
        }
        assertEquals(
                before, trainer.listRuns(ListRunsRequest.getDefaultInstance()).getRunsCount(), "no phantom QUEUED run");
    }

    @Test
    void badInputGetsClearStatus() {
        // A dataset the reader cannot make sense of: named as the client wrote it, the server's paths never shown.
        StatusRuntimeException unreadable = assertThrows(
                StatusRuntimeException.class,
                () -> trainer.startRun(tinySpec(5)
                        .setDataset(DatasetRef.newBuilder().setPath("."))
                        .build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, unreadable.getStatus().getCode());
        String said = unreadable.getStatus().getDescription();
        assertFalse(said.contains(dataRoot.toString()), said);
        assertFalse(said.contains(dataRoot.toAbsolutePath().toString()), said);

        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "batch_size",
                () -> trainer.startRun(tinySpec(5).setBatchSize(0).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "model_name 'Bad Name!' is not a valid model name",
                () -> trainer.startRun(tinySpec(5).setModelName("Bad Name!").build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "(10000 characters)' is not a valid model name",
                () -> trainer.startRun(
                        tinySpec(5).setModelName("a".repeat(10_000)).build()));
        assertStatus(
                Status.Code.FAILED_PRECONDITION,
                "device 'gpu' asks for a GPU, but this is the CPU build",
                () -> trainer.startRun(tinySpec(5)
                        .setDevice(DevicePreference.DEVICE_PREFERENCE_GPU)
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "batch_size",
                () -> trainer.startRun(tinySpec(5).setBatchSize(1000).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "learning_rate",
                () -> trainer.startRun(tinySpec(5).setLearningRate(-1).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "steps",
                () -> trainer.startRun(tinySpec(0).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "tokenizer",
                () -> trainer.startRun(tinySpec(5).setMethod(Method.METHOD_BEIT).build()));
        assertStatus(
                Status.Code.FAILED_PRECONDITION,
                "does not exist",
                () -> trainer.startRun(tinySpec(5)
                        .setMethod(Method.METHOD_BEIT)
                        .setTokenizer("nope")
                        .build()));
        assertStatus(
                Status.Code.FAILED_PRECONDITION,
                "grid does not match",
                () -> trainer.startRun(tinySpec(5)
                        .setMethod(Method.METHOD_BEIT)
                        .setTokenizer("coarse-tok")
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "BEiT pretrains a ViT",
                () -> trainer.startRun(tinySpec(5)
                        .setMethod(Method.METHOD_BEIT)
                        .setTokenizer("tiny-tok")
                        .setBackbone(Backbone.BACKBONE_SMALL_CONVNET)
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "too small for a 3x3 grid",
                () -> trainer.startRun(
                        tinySpec(5).setMethod(Method.METHOD_JIGSAW).build()));
        assertStatus(
                Status.Code.FAILED_PRECONDITION,
                "needs colour images",
                () -> trainer.startRun(
                        tinySpec(5).setMethod(Method.METHOD_COLORIZATION).build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "clusters",
                () -> trainer.startRun(tinySpec(5)
                        .setMethod(Method.METHOD_DEEPCLUSTER)
                        .setClusters(5000)
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "pca_dim",
                () -> trainer.startRun(tinySpec(5)
                        .setMethod(Method.METHOD_DEEPCLUSTER)
                        .setPcaDim(64)
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "clusterings: must be 1 to 8, got 9",
                () -> trainer.startRun(tinySpec(5)
                        .setMethod(Method.METHOD_DEEPCLUSTER)
                        .setClusterings(9)
                        .build()));
        assertStatus(
                Status.Code.INVALID_ARGUMENT,
                "jigsaw_permutations",
                () -> trainer.startRun(tinySpec(5)
                        .setMethod(Method.METHOD_JIGSAW)
                        .setJigsawPermutations(1)
                        .build()));
        assertStatus(
                Status.Code.NOT_FOUND,
                "nope",
                () -> trainer.startRun(tinySpec(5)
                        .setDataset(DatasetRef.newBuilder().setPath("nope"))
                        .build()));
        assertStatus(
                Status.Code.PERMISSION_DENIED,
                "leaves",
                () -> trainer.startRun(tinySpec(5)
                        .setDataset(DatasetRef.newBuilder().setPath("../etc"))
                        .build()));
        assertStatus(
                Status.Code.PERMISSION_DENIED,
                "absolute",
                () -> trainer.startRun(tinySpec(5)
                        .setDataset(DatasetRef.newBuilder().setPath("/etc"))
                        .build()));
        assertStatus(
                Status.Code.PERMISSION_DENIED,
                "link",
                () -> trainer.startRun(tinySpec(5)
                        .setDataset(DatasetRef.newBuilder().setPath("escape"))
                        .build()));
        assertStatus(
                Status.Code.NOT_FOUND,
                "no run",
                () -> trainer.getRun(GetRunRequest.newBuilder().setRunId("zzz").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "run_id", () -> trainer.getRun(GetRunRequest.getDefaultInstance()));
        assertStatus(
                Status.Code.NOT_FOUND,
                () -> trainer.exportEncoder(ExportEncoderRequest.newBuilder()
                                .setRunId("zzz")
                                .build())
                        .hasNext());
        List<String> ids = new ArrayList<>();
        trainer.listRuns(ListRunsRequest.getDefaultInstance()).getRunsList().forEach(r -> ids.add(r.getRunId()));
        assertTrue(ids.stream().noneMatch(String::isBlank));
    }

    static void assertStatus(Status.Code code, Runnable call) {
        assertStatus(code, "", call);
    }

    static void assertStatus(Status.Code code, String inMessage, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        String d = String.valueOf(e.getStatus().getDescription());
        assertTrue(d.contains(inMessage), "message '" + d + "' should mention '" + inMessage + "'");
    }
}
