package dev.selfsup.trainer;

import dev.selfsup.proto.Roles;
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
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import dev.selfsup.proto.v1.WatchRunRequest;
import dev.selfsup.service.GrpcCalls;
import dev.selfsup.service.StreamReplies;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.security.RolesAllowed;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The trainer's gRPC API: a thin adapter from protos to RunManager. Calls that touch the disk or the engine run on
 * the service's pool ({@link GrpcCalls#blocking}); lookups answer on the calling thread.
 */
@GrpcService
public class TrainerGrpcService extends TrainerServiceGrpc.TrainerServiceImplBase {
    private final GrpcCalls calls = new GrpcCalls("trainer-calls", 4, null);

    @Inject
    RunManager runs;

    @PreDestroy
    void close() {
        calls.close();
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void startRun(RunSpec request, StreamObserver<Run> out) {
        calls.blocking(out, () -> runs.start(request));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void getRun(GetRunRequest request, StreamObserver<Run> out) {
        calls.unary(out, () -> runs.get(request.getRunId()));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void listRuns(ListRunsRequest request, StreamObserver<ListRunsResponse> out) {
        calls.unary(
                out,
                () -> ListRunsResponse.newBuilder()
                        .addAllRuns(runs.list(Set.copyOf(request.getStatesList())))
                        .build());
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void cancelRun(CancelRunRequest request, StreamObserver<Run> out) {
        calls.blocking(out, () -> runs.cancel(request.getRunId()));
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void resumeRun(ResumeRunRequest request, StreamObserver<Run> out) {
        calls.blocking(out, () -> runs.resume(request.getRunId(), request.getStartOver()));
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void deleteRun(DeleteRunRequest request, StreamObserver<DeleteRunResponse> out) {
        calls.blocking(out, () -> {
            runs.delete(request.getRunId());
            return DeleteRunResponse.getDefaultInstance();
        });
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void watchRun(WatchRunRequest request, StreamObserver<RunEvent> out) {
        try {
            StreamReplies.forward(runs.watch(request.getRunId()), out, calls);
        } catch (RuntimeException e) {
            calls.fail(out, e);
        }
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void evaluateRun(EvaluateRunRequest request, StreamObserver<EvalResult> out) {
        calls.blocking(out, () -> runs.evaluate(request.getRunId(), request.getSpec()));
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void exportEncoder(ExportEncoderRequest request, StreamObserver<ModelChunk> out) {
        calls.offload(() -> {
            List<ModelChunk> chunks;
            try {
                chunks = chunks(request.getRunId());
            } catch (RuntimeException e) {
                calls.fail(out, e);
                return;
            }
            chunks.forEach(out::onNext);
            out.onCompleted();
        });
    }

    /** The run's encoder file as a manifest and 1 MiB chunks. */
    private List<ModelChunk> chunks(String runId) {
        Path file = runs.encoderFile(runId);
        return EncoderChunks.of(file, RunSpecs.modelName(runs.get(runId), ""), runId);
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void publishEncoder(PublishEncoderRequest request, StreamObserver<Run> out) {
        calls.blocking(out, () -> runs.publish(request.getRunId(), request.getModelName()));
    }
}
