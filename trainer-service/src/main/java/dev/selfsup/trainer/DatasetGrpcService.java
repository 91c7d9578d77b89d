package dev.selfsup.trainer;

import com.google.protobuf.Timestamp;
import dev.selfsup.proto.Roles;
import dev.selfsup.proto.v1.CreateDatasetRequest;
import dev.selfsup.proto.v1.DatasetFile;
import dev.selfsup.proto.v1.DatasetInfo;
import dev.selfsup.proto.v1.DatasetServiceGrpc;
import dev.selfsup.proto.v1.DatasetState;
import dev.selfsup.proto.v1.DeleteDatasetRequest;
import dev.selfsup.proto.v1.DeleteDatasetResponse;
import dev.selfsup.proto.v1.GetDatasetRequest;
import dev.selfsup.proto.v1.LabelCount;
import dev.selfsup.proto.v1.ListDatasetFilesRequest;
import dev.selfsup.proto.v1.ListDatasetFilesResponse;
import dev.selfsup.proto.v1.ListDatasetsRequest;
import dev.selfsup.proto.v1.ListDatasetsResponse;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.proto.v1.SealDatasetRequest;
import dev.selfsup.proto.v1.SplitInfo;
import dev.selfsup.proto.v1.UploadFilesRequest;
import dev.selfsup.proto.v1.UploadFilesResponse;
import dev.selfsup.service.DatasetStore;
import dev.selfsup.service.GrpcCalls;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.security.RolesAllowed;
import jakarta.inject.Inject;
import java.time.Instant;
import java.util.Set;

/**
 * Datasets over the API: a thin adapter from protos to the {@link DatasetStore}. Every call that touches the disk
 * runs on the service's pool; an upload reads its next message only when the last one is on disk
 * ({@link DatasetUpload}).
 */
@GrpcService
public class DatasetGrpcService extends DatasetServiceGrpc.DatasetServiceImplBase {
    private final GrpcCalls calls = new GrpcCalls("dataset-calls", 2, null);

    @Inject
    DatasetStore store;

    @Inject
    RunManager runs;

    @PreDestroy
    void close() {
        calls.close();
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void createDataset(CreateDatasetRequest request, StreamObserver<DatasetInfo> out) {
        calls.blocking(out, () -> info(store.create(request.getName(), request.getDescription())));
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public StreamObserver<UploadFilesRequest> uploadFiles(StreamObserver<UploadFilesResponse> out) {
        return new DatasetUpload(store, calls, out);
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void sealDataset(SealDatasetRequest request, StreamObserver<DatasetInfo> out) {
        calls.blocking(out, () -> info(store.seal(request.getName())));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void getDataset(GetDatasetRequest request, StreamObserver<DatasetInfo> out) {
        calls.unary(out, () -> info(store.get(request.getName())));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void listDatasets(ListDatasetsRequest request, StreamObserver<ListDatasetsResponse> out) {
        calls.unary(out, () -> {
            ListDatasetsResponse.Builder b = ListDatasetsResponse.newBuilder();
            store.list().forEach(i -> b.addDatasets(info(i)));
            return b.build();
        });
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void listDatasetFiles(ListDatasetFilesRequest request, StreamObserver<ListDatasetFilesResponse> out) {
        calls.blocking(out, () -> {
            var page = store.files(request.getName(), request.getPageSize(), request.getPageToken());
            ListDatasetFilesResponse.Builder b = ListDatasetFilesResponse.newBuilder();
            for (DatasetStore.FileRow r : page.getKey()) {
                b.addFiles(DatasetFile.newBuilder()
                        .setSplit(r.split())
                        .setLabel(r.label())
                        .setName(r.name())
                        .setSize(r.size())
                        .setSha256(r.sha256()));
            }
            return b.setNextPageToken(page.getValue()).build();
        });
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void deleteDataset(DeleteDatasetRequest request, StreamObserver<DeleteDatasetResponse> out) {
        calls.blocking(out, () -> {
            store.get(request.getName()); // NOT_FOUND first
            runs.list(Set.of(RunState.RUN_STATE_QUEUED, RunState.RUN_STATE_RUNNING)).stream()
                    .filter(r -> r.getSpec().getDataset().getUploaded().equals(request.getName()))
                    .findFirst()
                    .ifPresent(r -> {
                        throw Status.FAILED_PRECONDITION
                                .withDescription("run " + r.getRunId() + " trains on dataset '" + request.getName()
                                        + "'; cancel it or wait for it to end")
                                .asRuntimeException();
                    });
            store.delete(request.getName());
            return DeleteDatasetResponse.getDefaultInstance();
        });
    }

    /** The API's view of a dataset. */
    static DatasetInfo info(DatasetStore.Info i) {
        DatasetInfo.Builder b = DatasetInfo.newBuilder()
                .setName(i.name())
                .setDescription(i.description())
                .setState(
                        i.state() == DatasetStore.State.READY
                                ? DatasetState.DATASET_STATE_READY
                                : DatasetState.DATASET_STATE_OPEN)
                .setFiles(i.files())
                .setBytes(i.bytes())
                .setSha256(i.sha256() == null ? "" : i.sha256());
        i.splits().forEach((split, c) -> {
            SplitInfo.Builder s =
                    SplitInfo.newBuilder().setSplit(split).setFiles(c.files()).setBytes(c.bytes());
            c.labels()
                    .forEach((label, n) ->
                            s.addLabels(LabelCount.newBuilder().setLabel(label).setFiles(n)));
            b.addSplits(s);
        });
        if (i.createdAt() != null) {
            b.setCreatedAt(timestamp(i.createdAt()));
        }
        if (i.sealedAt() != null) {
            b.setSealedAt(timestamp(i.sealedAt()));
        }
        return b.build();
    }

    private static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder()
                .setSeconds(t.getEpochSecond())
                .setNanos(t.getNano())
                .build();
    }
}
