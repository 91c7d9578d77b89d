package dev.selfsup.trainer;

import dev.selfsup.proto.v1.FileHeader;
import dev.selfsup.proto.v1.UploadFilesRequest;
import dev.selfsup.proto.v1.UploadFilesResponse;
import dev.selfsup.service.DatasetRules;
import dev.selfsup.service.DatasetStore;
import dev.selfsup.service.GrpcCalls;
import dev.selfsup.service.IncomingFile;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * One UploadFiles call. Messages are taken one at a time: the next is read only when the last one's bytes are on
 * disk (on the service's pool, never the event loop), so a fast client waits in gRPC's flow-control window and the
 * server holds at most one message per stream. Files that arrived whole stay when the stream breaks; the file in
 * flight is dropped.
 */
final class DatasetUpload implements StreamObserver<UploadFilesRequest> {
    private final DatasetStore store;
    private final GrpcCalls calls;
    private final ServerCallStreamObserver<UploadFilesResponse> out;
    private String dataset;
    private IncomingFile current;
    private long files;
    private long bytes;
    private boolean ended;
    private boolean working;
    private boolean halfClosed;

    DatasetUpload(DatasetStore store, GrpcCalls calls, StreamObserver<UploadFilesResponse> out) {
        this.store = store;
        this.calls = calls;
        this.out = (ServerCallStreamObserver<UploadFilesResponse>) out;
        this.out.disableAutoRequest();
        this.out.setOnCancelHandler(() -> calls.offload(this::drop));
        this.out.request(1);
    }

    @Override
    public void onNext(UploadFilesRequest m) {
        synchronized (this) {
            if (ended) {
                return;
            }
            working = true;
        }
        calls.offload(() -> {
            synchronized (this) {
                working = false;
                if (ended) {
                    return;
                }
                try {
                    take(m);
                } catch (RuntimeException e) {
                    ended = true;
                    dropCurrent();
                    calls.fail(out, e);
                    return;
                }
                if (halfClosed) {
                    complete();
                    return;
                }
            }
            out.request(1);
        });
    }

    private void take(UploadFilesRequest m) {
        if (dataset == null) {
            if (m.getDataset().isEmpty()) {
                throw invalid("the first message must name the dataset");
            }
            dataset = m.getDataset();
            store.get(dataset); // NOT_FOUND before any byte is written
        } else if (!m.getDataset().isEmpty() && !m.getDataset().equals(dataset)) {
            throw invalid("one upload goes into one dataset ('" + DatasetRules.shortened(dataset) + "'); open "
                    + "another stream for '" + DatasetRules.shortened(m.getDataset()) + "'");
        }
        if (m.hasFile()) {
            if (current != null) {
                throw invalid("file '" + DatasetRules.shortened(current.header().name()) + "' ended after "
                        + (current.header().size() - current.remaining()) + " of "
                        + current.header().size()
                        + " bytes: a new file began before it was whole");
            }
            FileHeader h = m.getFile();
            current = store.begin(
                    dataset,
                    new DatasetStore.FileRow(
                            h.getSplit().isEmpty() ? "train" : h.getSplit(),
                            h.getLabel(),
                            h.getName(),
                            h.getSize(),
                            h.getSha256()));
        } else if (current == null && !m.getData().isEmpty()) {
            throw invalid("bytes came before any file header: start each file with a message that has 'file' set");
        }
        if (!m.getData().isEmpty()) {
            current.write(m.getData().toByteArray());
        }
        if (current != null && current.remaining() == 0) {
            DatasetStore.FileRow row = current.finish();
            current = null;
            files++;
            bytes += row.size();
        }
    }

    @Override
    public void onError(Throwable t) {
        calls.offload(this::drop);
    }

    @Override
    public synchronized void onCompleted() {
        halfClosed = true;
        if (!working && !ended) {
            calls.offload(() -> {
                synchronized (this) {
                    complete();
                }
            });
        }
    }

    /** Answers the call once every message is on disk; the caller holds the lock. */
    private void complete() {
        if (ended) {
            return;
        }
        ended = true;
        try {
            if (current != null) {
                throw invalid("file '" + DatasetRules.shortened(current.header().name()) + "' ended after "
                        + (current.header().size() - current.remaining()) + " of "
                        + current.header().size()
                        + " bytes; send it again");
            }
            if (dataset == null) {
                throw invalid("no messages: name the dataset, then send files");
            }
            out.onNext(UploadFilesResponse.newBuilder()
                    .setFiles(files)
                    .setBytes(bytes)
                    .setDataset(DatasetGrpcService.info(store.get(dataset)))
                    .build());
            out.onCompleted();
        } catch (RuntimeException e) {
            dropCurrent();
            calls.fail(out, e);
        }
    }

    private synchronized void drop() {
        ended = true;
        dropCurrent();
    }

    private void dropCurrent() {
        if (current != null) {
            current.abort();
            current = null;
        }
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
