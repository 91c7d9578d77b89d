package dev.selfsup.cli;

import com.google.protobuf.ByteString;
import dev.selfsup.proto.v1.CreateDatasetRequest;
import dev.selfsup.proto.v1.DatasetFile;
import dev.selfsup.proto.v1.DatasetInfo;
import dev.selfsup.proto.v1.DatasetServiceGrpc;
import dev.selfsup.proto.v1.DatasetState;
import dev.selfsup.proto.v1.DeleteDatasetRequest;
import dev.selfsup.proto.v1.FileHeader;
import dev.selfsup.proto.v1.GetDatasetRequest;
import dev.selfsup.proto.v1.LabelCount;
import dev.selfsup.proto.v1.ListDatasetFilesRequest;
import dev.selfsup.proto.v1.ListDatasetFilesResponse;
import dev.selfsup.proto.v1.ListDatasetsRequest;
import dev.selfsup.proto.v1.SealDatasetRequest;
import dev.selfsup.proto.v1.SplitInfo;
import dev.selfsup.proto.v1.UploadFilesRequest;
import dev.selfsup.proto.v1.UploadFilesResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code selfsup datasets upload|list|describe|seal|delete}: datasets on the trainer-service, brought from this
 * machine over the API (no shared file system). {@code upload} resumes: it asks which files arrived and sends the
 * rest.
 */
@Command(
        name = "datasets",
        description = "Datasets on the trainer-service: upload a local folder (resumable), list, describe, seal, "
                + "delete. Train on one with: selfsup train --uploaded NAME",
        subcommands = {
            DatasetCommands.Upload.class,
            DatasetCommands.Describe.class,
            DatasetCommands.Seal.class,
            DatasetCommands.Delete.class
        })
final class DatasetCommands extends Selfsup.TrainerCall {
    @Override
    boolean readOnly() {
        return true;
    }

    @Override
    int run(ManagedChannel channel) {
        List<DatasetInfo> all = DatasetServiceGrpc.newBlockingStub(channel)
                .listDatasets(ListDatasetsRequest.getDefaultInstance())
                .getDatasetsList();
        System.out.printf("%-24s %-6s %9s %12s  %s%n", "name", "state", "files", "bytes", "splits");
        for (DatasetInfo d : all) {
            List<String> splits = new ArrayList<>();
            d.getSplitsList().forEach(s -> splits.add(s.getSplit() + " " + s.getFiles()));
            System.out.printf(
                    "%-24s %-6s %9d %12d  %s%n",
                    d.getName(), state(d.getState()), d.getFiles(), d.getBytes(), String.join(", ", splits));
        }
        return 0;
    }

    static String state(DatasetState s) {
        return s == DatasetState.DATASET_STATE_READY ? "ready" : "open";
    }

    /** Bytes per upload message: well under the services' 4 MiB message bound. */
    static final int CHUNK = 1 << 20;

    @Command(
            name = "upload",
            description = "Upload a folder of PNG/JPEG images, then seal it. The folder holds train/ and test/ "
                    + "(optional) or the training images directly; in each, one sub-folder per class labels its "
                    + "images, or the images lie there unlabelled. Run it again to resume a cut upload.")
    static final class Upload extends Selfsup.TrainerCall {
        @Parameters(paramLabel = "FOLDER", description = "the local folder")
        Path folder;

        @Option(names = "--name", required = true, description = "the dataset's name on the service")
        String name;

        @Option(names = "--description", defaultValue = "", description = "free text for people")
        String description;

        @Option(names = "--no-seal", description = "leave it open for more files (runs need it sealed)")
        boolean noSeal;

        @Override
        int run(ManagedChannel channel) throws Exception {
            DatasetServiceGrpc.DatasetServiceBlockingStub stub = DatasetServiceGrpc.newBlockingStub(channel);
            List<Local> local = scan(folder);
            if (local.isEmpty()) {
                throw new IllegalArgumentException(folder + " holds no .png, .jpg or .jpeg file");
            }
            DatasetInfo info;
            try {
                info = stub.getDataset(
                        GetDatasetRequest.newBuilder().setName(name).build());
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                    throw e;
                }
                info = stub.createDataset(CreateDatasetRequest.newBuilder()
                        .setName(name)
                        .setDescription(description)
                        .build());
            }
            if (info.getState() == DatasetState.DATASET_STATE_READY) {
                System.err.printf("dataset %s is sealed already (%d files)%n", name, info.getFiles());
                print(info);
                return 0;
            }
            Map<String, String> refused = new LinkedHashMap<>();
            for (int attempt = 0; ; attempt++) {
                Map<String, DatasetFile> there = remote(stub, name);
                List<Local> missing = new ArrayList<>();
                for (Local l : local) {
                    DatasetFile f = there.get(l.key());
                    if ((f == null || f.getSize() != l.size()) && !refused.containsKey(l.key())) {
                        missing.add(l);
                    }
                }
                if (attempt == 0 && missing.size() < local.size()) {
                    System.err.printf(
                            "resuming: %d of %d files are on the service already%n",
                            local.size() - missing.size(), local.size());
                }
                if (missing.isEmpty()) {
                    break;
                }
                try {
                    UploadFilesResponse r = send(DatasetServiceGrpc.newStub(channel), name, missing);
                    info = r.getDataset();
                    break;
                } catch (StatusRuntimeException e) {
                    Matcher m =
                            FILE_IN_MESSAGE.matcher(String.valueOf(e.getStatus().getDescription()));
                    if (e.getStatus().getCode() != Status.Code.INVALID_ARGUMENT || !m.find()) {
                        throw e;
                    }
                    // One bad file: note it, and send the rest in a new call.
                    String bad = m.group(1);
                    Local which = missing.stream()
                            .filter(l -> l.name().equals(bad))
                            .findFirst()
                            .orElseThrow(() -> e);
                    refused.put(which.key(), e.getStatus().getDescription());
                    System.err.printf(
                            "%nrefused %s: %s%n", which.path(), e.getStatus().getDescription());
                }
            }
            if (!refused.isEmpty()) {
                System.err.printf("%d file(s) refused and left out (above)%n", refused.size());
            }
            if (!noSeal) {
                info = stub.sealDataset(
                        SealDatasetRequest.newBuilder().setName(name).build());
            }
            print(info);
            return 0;
        }
    }

    private static final Pattern FILE_IN_MESSAGE = Pattern.compile("^file '([^']+)'");

    /** A local file to upload, with the split, label and name it gets on the service. */
    record Local(Path path, String split, String label, String name, long size) {
        String key() {
            return split + "/" + label + "/" + name;
        }
    }

    /** The images under {@code root}: train/ and test/ if there, else root is the training split. */
    static List<Local> scan(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new IllegalArgumentException(root + " is not a folder");
        }
        List<Local> out = new ArrayList<>();
        boolean splits = Files.isDirectory(root.resolve("train")) || Files.isDirectory(root.resolve("test"));
        for (String split : splits ? List.of("train", "test") : List.of("train")) {
            Path dir = splits ? root.resolve(split) : root;
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> entries = Files.list(dir)) {
                for (Path p : entries.sorted().toList()) {
                    if (Files.isDirectory(p)) {
                        try (Stream<Path> files = Files.list(p)) {
                            for (Path f : files.sorted().toList()) {
                                add(out, f, split, p.getFileName().toString());
                            }
                        }
                    } else {
                        add(out, p, split, "");
                    }
                }
            }
        }
        return out;
    }

    private static void add(List<Local> out, Path f, String split, String label) throws IOException {
        String n = f.getFileName().toString();
        String lower = n.toLowerCase(Locale.ROOT);
        if (Files.isRegularFile(f) && (lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg"))) {
            out.add(new Local(f, split, label, n, Files.size(f)));
        }
    }

    static Map<String, DatasetFile> remote(DatasetServiceGrpc.DatasetServiceBlockingStub stub, String name) {
        Map<String, DatasetFile> out = new HashMap<>();
        String token = "";
        do {
            ListDatasetFilesResponse page = stub.listDatasetFiles(ListDatasetFilesRequest.newBuilder()
                    .setName(name)
                    .setPageToken(token)
                    .build());
            for (DatasetFile f : page.getFilesList()) {
                out.put(f.getSplit() + "/" + f.getLabel() + "/" + f.getName(), f);
            }
            token = page.getNextPageToken();
        } while (!token.isEmpty());
        return out;
    }

    /** Streams the files in one call, waiting for gRPC's flow control; draws progress on stderr. */
    static UploadFilesResponse send(DatasetServiceGrpc.DatasetServiceStub stub, String name, List<Local> files)
            throws Exception {
        CompletableFuture<UploadFilesResponse> answer = new CompletableFuture<>();
        Object ready = new Object();
        ClientCallStreamObserver<UploadFilesRequest>[] call = new ClientCallStreamObserver[1];
        stub.uploadFiles(new ClientResponseObserver<UploadFilesRequest, UploadFilesResponse>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<UploadFilesRequest> requests) {
                call[0] = requests;
                requests.setOnReadyHandler(() -> {
                    synchronized (ready) {
                        ready.notifyAll();
                    }
                });
            }

            @Override
            public void onNext(UploadFilesResponse r) {
                answer.complete(r);
            }

            @Override
            public void onError(Throwable t) {
                answer.completeExceptionally(t);
                synchronized (ready) {
                    ready.notifyAll();
                }
            }

            @Override
            public void onCompleted() {}
        });
        long total = files.stream().mapToLong(Local::size).sum();
        Progress progress = new Progress(files.size(), total);
        boolean first = true;
        byte[] buffer = new byte[CHUNK];
        for (Local f : files) {
            try (InputStream in = Files.newInputStream(f.path())) {
                boolean header = true;
                long left = f.size();
                while (header || left > 0) {
                    int n = in.readNBytes(buffer, 0, (int) Math.min(buffer.length, left));
                    UploadFilesRequest.Builder m =
                            UploadFilesRequest.newBuilder().setData(ByteString.copyFrom(buffer, 0, n));
                    if (header) {
                        m.setFile(FileHeader.newBuilder()
                                .setName(f.name())
                                .setLabel(f.label())
                                .setSplit(f.split())
                                .setSize(f.size()));
                    }
                    if (first) {
                        m.setDataset(name);
                        first = false;
                    }
                    synchronized (ready) {
                        while (!call[0].isReady() && !answer.isDone()) {
                            ready.wait(1000);
                        }
                    }
                    if (answer.isDone()) {
                        return unwrap(answer); // the service ended the call early: say why
                    }
                    call[0].onNext(m.build());
                    header = false;
                    left -= n;
                    if (n == 0 && left > 0) {
                        throw new IOException(f.path() + " changed while it was read");
                    }
                    progress.sent(n);
                }
            }
            progress.file();
        }
        call[0].onCompleted();
        UploadFilesResponse r = unwrap(answer);
        progress.done();
        return r;
    }

    private static UploadFilesResponse unwrap(CompletableFuture<UploadFilesResponse> answer) throws Exception {
        try {
            return answer.get(10, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception x ? x : e;
        }
    }

    /** The upload's progress on stderr: redrawn in place on a terminal, a line per 5% into a pipe or log. */
    static final class Progress {
        private final int files;
        private final long bytes;
        private final PrintStream out;
        private final boolean terminal;
        private final long start = System.nanoTime();
        private int filesSent;
        private long bytesSent;
        private long lastShare = -1;
        private long lastDraw;

        Progress(int files, long bytes) {
            this(files, bytes, System.err, System.console() != null);
        }

        Progress(int files, long bytes, PrintStream out, boolean terminal) {
            this.files = files;
            this.bytes = bytes;
            this.out = out;
            this.terminal = terminal;
        }

        void sent(long n) {
            bytesSent += n;
            draw(false);
        }

        void file() {
            filesSent++;
            draw(false);
        }

        void done() {
            draw(true);
            if (terminal) {
                out.println();
            }
        }

        private void draw(boolean force) {
            long share = 20 * bytesSent / Math.max(1, bytes);
            long now = System.nanoTime();
            if (!force && !terminal && bytesSent >= bytes) {
                return; // the full bar is the last line, once, with every file counted: done() draws it
            }
            if (!force && (terminal ? now - lastDraw < 200_000_000L : share == lastShare)) {
                return;
            }
            lastShare = share;
            lastDraw = now;
            double seconds = Math.max(1e-3, (now - start) / 1e9);
            int width = 30;
            int filled = (int) (width * bytesSent / Math.max(1, bytes));
            out.printf(
                    (terminal ? "\r" : "") + "[%s%s] %d/%d files  %.1f/%.1f MB  %.1f MB/s   " + (terminal ? "" : "%n"),
                    "#".repeat(filled),
                    ".".repeat(width - filled),
                    filesSent,
                    files,
                    bytesSent / 1e6,
                    bytes / 1e6,
                    bytesSent / 1e6 / seconds);
        }
    }

    static void print(DatasetInfo d) {
        System.out.printf(
                "%s  %s  %d files  %d bytes%s%n",
                d.getName(),
                state(d.getState()),
                d.getFiles(),
                d.getBytes(),
                d.getSha256().isEmpty() ? "" : "  sha256 " + d.getSha256());
        for (SplitInfo s : d.getSplitsList()) {
            List<String> labels = new ArrayList<>();
            for (LabelCount l : s.getLabelsList()) {
                labels.add((l.getLabel().isEmpty() ? "(unlabelled)" : l.getLabel()) + " " + l.getFiles());
            }
            System.out.printf("  %-5s %7d files  %s%n", s.getSplit(), s.getFiles(), String.join(", ", labels));
        }
    }

    @Command(name = "describe", description = "A dataset's state, counts per split and label, and checksum.")
    static final class Describe extends Selfsup.TrainerCall {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        boolean readOnly() {
            return true;
        }

        @Override
        int run(ManagedChannel channel) {
            print(DatasetServiceGrpc.newBlockingStub(channel)
                    .getDataset(GetDatasetRequest.newBuilder().setName(name).build()));
            return 0;
        }
    }

    @Command(name = "seal", description = "Seal an open dataset so that runs may train on it.")
    static final class Seal extends Selfsup.TrainerCall {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        int run(ManagedChannel channel) {
            print(DatasetServiceGrpc.newBlockingStub(channel)
                    .sealDataset(SealDatasetRequest.newBuilder().setName(name).build()));
            return 0;
        }
    }

    @Command(name = "delete", description = "Delete a dataset and its files from the service.")
    static final class Delete extends Selfsup.TrainerCall {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        int run(ManagedChannel channel) {
            DatasetServiceGrpc.newBlockingStub(channel)
                    .deleteDataset(
                            DeleteDatasetRequest.newBuilder().setName(name).build());
            System.out.println("deleted " + name);
            return 0;
        }
    }
}
