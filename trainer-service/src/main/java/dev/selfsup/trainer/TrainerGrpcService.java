package dev.selfsup.trainer;

import dev.selfsup.proto.v1.CancelRunRequest;
import dev.selfsup.proto.v1.DeleteRunRequest;
import dev.selfsup.proto.v1.DeleteRunResponse;
import dev.selfsup.proto.v1.EvalResult;
import dev.selfsup.proto.v1.EvaluateRunRequest;
import dev.selfsup.proto.v1.ExportEncoderRequest;
import dev.selfsup.proto.v1.GetRunRequest;
import dev.selfsup.proto.v1.ListRunsRequest;
import dev.selfsup.proto.v1.ListRunsResponse;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.PublishEncoderRequest;
import dev.selfsup.proto.v1.ResumeRunRequest;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.TrainerService;
import dev.selfsup.proto.v1.WatchRunRequest;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/** The trainer's gRPC API: a thin adapter from protos to RunManager. DJL work runs on worker threads. */
@GrpcService
public class TrainerGrpcService implements TrainerService {
    private static final int CHUNK = 1 << 20;

    @Inject
    RunManager runs;

    @Override
    @Blocking
    public Uni<Run> startRun(RunSpec request) {
        return Uni.createFrom().item(() -> runs.start(request));
    }

    @Override
    public Uni<Run> getRun(GetRunRequest request) {
        return Uni.createFrom().item(() -> runs.get(request.getRunId()));
    }

    @Override
    public Uni<ListRunsResponse> listRuns(ListRunsRequest request) {
        return Uni.createFrom().item(() -> ListRunsResponse.newBuilder()
                .addAllRuns(runs.list(Set.copyOf(request.getStatesList()))).build());
    }

    @Override
    @Blocking
    public Uni<Run> cancelRun(CancelRunRequest request) {
        return Uni.createFrom().item(() -> runs.cancel(request.getRunId()));
    }

    @Override
    @Blocking
    public Uni<Run> resumeRun(ResumeRunRequest request) {
        return Uni.createFrom().item(() -> runs.resume(request.getRunId(), request.getStartOver()));
    }

    @Override
    @Blocking
    public Uni<DeleteRunResponse> deleteRun(DeleteRunRequest request) {
        return Uni.createFrom().item(() -> {
            runs.delete(request.getRunId());
            return DeleteRunResponse.getDefaultInstance();
        });
    }

    @Override
    public Multi<RunEvent> watchRun(WatchRunRequest request) {
        return runs.watch(request.getRunId());
    }

    @Override
    @Blocking
    public Uni<EvalResult> evaluateRun(EvaluateRunRequest request) {
        return Uni.createFrom().item(() -> runs.evaluate(request.getRunId(), request.getSpec()));
    }

    @Override
    @Blocking
    public Multi<ModelChunk> exportEncoder(ExportEncoderRequest request) {
        return Multi.createFrom().items(() -> chunks(request.getRunId()).stream());
    }

    /** The run's encoder file as a manifest and 1 MiB chunks. */
    private List<ModelChunk> chunks(String runId) {
        Path file = runs.encoderFile(runId);
        return EncoderChunks.of(file, runs.modelName(runs.get(runId), ""), runId);
    }

    @Override
    @Blocking
    public Uni<Run> publishEncoder(PublishEncoderRequest request) {
        return Uni.createFrom().item(() -> runs.publish(request.getRunId(), request.getModelName()));
    }
}
