package dev.selfsup.service;

import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.data.PixelBudget;
import dev.selfsup.core.io.AtomicFiles;
import dev.selfsup.core.io.Json;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;

/**
 * Datasets uploaded by clients, one folder each: {@code dataset.json} (name, state, counts, checksum),
 * {@code files.tsv} (one line per file that arrived whole) and {@code images/SPLIT[/LABEL]/NAME}, an image folder the
 * trainer reads like any other. A file is written under {@code .partial/}, checked (size, SHA-256, a PNG or JPEG
 * that decodes within the pixel bound), moved into place, then listed; at start, whatever is not both in place and
 * listed is removed, so a crash loses at most the files in flight and never leaves a half-written one to train on.
 * A dataset is OPEN while files arrive and READY once sealed; only READY datasets can be read for training.
 *
 * <p>Refusals are {@link Refusal}s with a message a person can act on; {@link GrpcErrors} maps them to statuses.
 */
public final class DatasetStore {
    private static final Logger LOG = Logger.getLogger(DatasetStore.class);

    /** The bounds of the store, all from configuration (docs/limits.md). */
    public record Limits(
            int maxDatasets,
            long maxDatasetBytes,
            long maxTotalBytes,
            long maxFiles,
            long maxFileBytes,
            long minFreeBytes,
            long maxPixels) {}

    /** A dataset's state. */
    public enum State {
        OPEN,
        READY
    }

    /** One file of a dataset. */
    public record FileRow(String split, String label, String name, long size, String sha256) {
        String key() {
            return split + '\u0000' + label + '\u0000' + name;
        }

        String line() {
            return String.join("\t", split, label, name, Long.toString(size), sha256);
        }

        static FileRow parse(String line) {
            String[] f = line.split("\t", -1);
            if (f.length != 5) {
                throw new IllegalArgumentException("malformed line");
            }
            return new FileRow(f[0], f[1], f[2], Long.parseLong(f[3]), f[4]);
        }
    }

    /** Files and bytes of one split, with the files per label ("" for unlabelled). */
    public record SplitCount(long files, long bytes, Map<String, Long> labels) {}

    /** What {@code dataset.json} holds. */
    public record Info(
            String name,
            String description,
            State state,
            long files,
            long bytes,
            Map<String, SplitCount> splits,
            String sha256,
            Instant createdAt,
            Instant sealedAt) {}

    /** Dataset names: the same rule as model names. */
    public static final Pattern NAME = ModelNames.PATTERN;
    /** File names: letters, digits, space, '.', '_', '+', '-', starting with a letter or digit. */
    static final Pattern FILE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9 ._+-]{0,127}");
    /** Labels: as file names, at most 64 characters. */
    static final Pattern LABEL = Pattern.compile("[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}");
    /** The splits a dataset may have. */
    public static final List<String> SPLITS = List.of("train", "test");
    /** Most files a page of {@link #files} holds. */
    public static final int MAX_PAGE = 10_000;

    private final Path dir;
    private final Limits limits;
    private final Map<String, Entry> datasets = new TreeMap<>();
    private long totalBytes;

    /** A dataset in memory: its info, and its files while it is open (a sealed one lists them from disk). */
    private static final class Entry {
        Info info;
        TreeMap<String, FileRow> rows; // OPEN only
        int uploads; // streams writing into it now
    }

    /** Opens the store in {@code dir}, creating it if needed, and cleans what an interrupted upload left. */
    public DatasetStore(Path dir, Limits limits) {
        this.dir = dir;
        this.limits = limits;
        try {
            Files.createDirectories(dir);
            try (var list = Files.list(dir)) {
                for (Path d : list.filter(Files::isDirectory).sorted().toList()) {
                    String name = d.getFileName().toString();
                    if (name.startsWith(".") && name.contains(".deleted-")) {
                        deleteTreeQuietly(d); // a delete cut short
                        continue;
                    }
                    if (!NAME.matcher(name).matches() || !Files.exists(d.resolve("dataset.json"))) {
                        continue;
                    }
                    try {
                        Entry e = load(d);
                        datasets.put(name, e);
                        totalBytes += e.info.bytes();
                    } catch (IOException | RuntimeException ex) {
                        LOG.errorf("dataset folder %s cannot be read and is skipped: %s", d, ex.getMessage());
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("the dataset store " + dir + " cannot be opened", e);
        }
    }

    private Entry load(Path d) throws IOException {
        Info info = Json.MAPPER.readValue(d.resolve("dataset.json").toFile(), Info.class);
        Entry e = new Entry();
        deleteTree(d.resolve(".partial"));
        if (info.state() == State.READY) {
            e.info = info;
            return e;
        }
        // Open: the list is the truth for what arrived whole; files not on it, and lines whose file is gone, go.
        e.rows = new TreeMap<>();
        Path list = d.resolve("files.tsv");
        if (Files.exists(list)) {
            try (BufferedReader r = Files.newBufferedReader(list, StandardCharsets.UTF_8)) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.isEmpty()) {
                        continue;
                    }
                    try {
                        FileRow row = FileRow.parse(line);
                        e.rows.put(row.key(), row);
                    } catch (RuntimeException bad) {
                        LOG.warnf("%s: skipping a malformed line (a write cut short)", list);
                    }
                }
            }
        }
        e.rows.values().removeIf(row -> !Files.isRegularFile(imagePath(d, row)));
        Path images = d.resolve("images");
        if (Files.isDirectory(images)) {
            try (var walk = Files.walk(images)) {
                for (Path f : walk.filter(Files::isRegularFile).toList()) {
                    if (!e.rows.containsKey(keyOf(images.relativize(f)))) {
                        LOG.infof("%s: removing %s, which was not listed (an upload cut short)", d, f);
                        Files.deleteIfExists(f);
                    }
                }
            }
        }
        e.info = counted(info, e.rows);
        rewriteList(d, e.rows);
        return e;
    }

    private static String keyOf(Path rel) {
        String split = rel.getName(0).toString();
        String label = rel.getNameCount() == 3 ? rel.getName(1).toString() : "";
        return split + '\u0000' + label + '\u0000' + rel.getFileName();
    }

    private static Info counted(Info base, TreeMap<String, FileRow> rows) {
        Map<String, SplitCount> splits = new LinkedHashMap<>();
        long files = 0;
        long bytes = 0;
        for (FileRow r : rows.values()) {
            SplitCount c = splits.getOrDefault(r.split(), new SplitCount(0, 0, new TreeMap<>()));
            c.labels().merge(r.label(), 1L, Long::sum);
            splits.put(r.split(), new SplitCount(c.files() + 1, c.bytes() + r.size(), c.labels()));
            files++;
            bytes += r.size();
        }
        return new Info(
                base.name(),
                base.description(),
                base.state(),
                files,
                bytes,
                splits,
                base.sha256(),
                base.createdAt(),
                base.sealedAt());
    }

    // ---- reading ----

    /** Every dataset, by name. */
    public synchronized List<Info> list() {
        return datasets.values().stream().map(e -> e.info).toList();
    }

    /** One dataset. */
    public synchronized Info get(String name) {
        return entry(name).info;
    }

    /**
     * A page of a dataset's files in (split, label, name) order, after the file {@code pageToken} names.
     *
     * @return the files and the next page's token ("" after the last page)
     */
    public Map.Entry<List<FileRow>, String> files(String name, int pageSize, String pageToken) {
        int size = pageSize <= 0 ? MAX_PAGE : Math.min(pageSize, MAX_PAGE);
        String after = decodeToken(pageToken);
        List<FileRow> page = new ArrayList<>();
        boolean more = false;
        Path list;
        synchronized (this) {
            Entry e = entry(name);
            if (e.rows != null) {
                var tail = after == null ? e.rows : e.rows.tailMap(after, false);
                for (FileRow r : tail.values()) {
                    if (page.size() == size) {
                        more = true;
                        break;
                    }
                    page.add(r);
                }
                return Map.entry(page, more ? token(page.get(page.size() - 1)) : "");
            }
            list = dir.resolve(name).resolve("files.tsv");
        }
        // Sealed: the list on disk is in order and does not change.
        try (BufferedReader r = Files.newBufferedReader(list, StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
                FileRow row = FileRow.parse(line);
                if (after != null && row.key().compareTo(after) <= 0) {
                    continue;
                }
                if (page.size() == size) {
                    more = true;
                    break;
                }
                page.add(row);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.entry(page, more ? token(page.get(page.size() - 1)) : "");
    }

    private static String token(FileRow last) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(last.key().getBytes(StandardCharsets.UTF_8));
    }

    private static String decodeToken(String token) {
        if (token == null || token.isEmpty()) {
            return null;
        }
        try {
            return new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw Refusal.invalid("page_token is not one this service gave; pass next_page_token as it came");
        }
    }

    /**
     * The folder of a sealed dataset's split, to read as an image folder, and the dataset's checksum.
     *
     * @throws Refusal NOT_FOUND (no such dataset or split), WRONG_STATE (not sealed)
     */
    public synchronized Map.Entry<Path, String> readyFolder(String name, String split) {
        Entry e = entry(name);
        if (e.info.state() != State.READY) {
            throw Refusal.wrongState("dataset '" + name + "' is still open for uploads; seal it first "
                    + "(SealDataset, or: selfsup datasets seal " + name + ")");
        }
        if (!e.info.splits().containsKey(split)) {
            throw Refusal.notFound("dataset '" + name + "' has no '" + shortened(split) + "' split; it has: "
                    + String.join(", ", e.info.splits().keySet()));
        }
        return Map.entry(dir.resolve(name).resolve("images").resolve(split), e.info.sha256());
    }

    // ---- changing ----

    /** Creates an open, empty dataset. */
    public synchronized Info create(String name, String description) {
        requireName(name);
        if (description.length() > 1000) {
            throw Refusal.invalid("description has " + description.length() + " characters; at most 1000");
        }
        if (datasets.containsKey(name)) {
            throw Refusal.exists("dataset '" + name + "' exists ("
                    + datasets.get(name).info.state().name().toLowerCase(Locale.ROOT)
                    + "); upload into it, or delete it first");
        }
        if (datasets.size() >= limits.maxDatasets()) {
            throw Refusal.quota("this service holds " + datasets.size() + " datasets, its limit "
                    + "(selfsup.datasets.max-datasets); delete one first");
        }
        Info info = new Info(name, description, State.OPEN, 0, 0, Map.of(), "", Instant.now(), null);
        Path d = dir.resolve(name);
        try {
            Files.createDirectories(d.resolve("images"));
            writeInfo(d, info);
        } catch (IOException e) {
            deleteTreeQuietly(d);
            throw new UncheckedIOException(e);
        }
        Entry e = new Entry();
        e.info = info;
        e.rows = new TreeMap<>();
        datasets.put(name, e);
        LOG.infof("dataset %s created", name);
        return info;
    }

    /**
     * Starts receiving one file: checks its header against the rules and the bounds, and opens its partial file.
     * The caller writes the bytes, then calls {@link Upload#finish()} (or {@link Upload#abort()}).
     */
    public Upload begin(String dataset, FileRow header) {
        requireHeader(header);
        Path partial;
        synchronized (this) {
            Entry e = openEntry(dataset);
            FileRow old = e.rows.get(header.key());
            long added = header.size() - (old == null ? 0 : old.size());
            if (old == null && e.info.files() >= limits.maxFiles()) {
                throw Refusal.quota("dataset '" + dataset + "' holds " + e.info.files() + " files, the limit "
                        + "(selfsup.datasets.max-files)");
            }
            if (e.info.bytes() + added > limits.maxDatasetBytes()) {
                throw Refusal.quota("file '" + shortened(header.name()) + "' would take dataset '" + dataset + "' to "
                        + (e.info.bytes() + added) + " bytes; the limit is " + limits.maxDatasetBytes()
                        + " (selfsup.datasets.max-dataset-bytes)");
            }
            if (totalBytes + added > limits.maxTotalBytes()) {
                throw Refusal.quota("the uploaded datasets would take " + (totalBytes + added) + " bytes; the limit is "
                        + limits.maxTotalBytes() + " (selfsup.datasets.max-total-bytes); delete a dataset first");
            }
            try {
                long free = Files.getFileStore(dir).getUsableSpace();
                if (free - header.size() < limits.minFreeBytes()) {
                    throw Refusal.quota("the server's disk is nearly full (" + free + " bytes free, "
                            + limits.minFreeBytes() + " kept free: selfsup.datasets.min-free-bytes); "
                            + "the operator must make room");
                }
                Path p = dir.resolve(dataset).resolve(".partial");
                Files.createDirectories(p);
                partial = Files.createTempFile(p, "file", ".part");
            } catch (IOException ex) {
                throw new UncheckedIOException(ex);
            }
            e.uploads++;
        }
        try {
            return new Upload(dataset, header, partial);
        } catch (IOException ex) {
            release(dataset, partial);
            throw new UncheckedIOException(ex);
        }
    }

    /** One file on its way in: bytes go to its partial file and its digest. Not thread-safe: one caller at a time. */
    public final class Upload {
        private final String dataset;
        private final FileRow header;
        private final Path partial;
        private final OutputStream out;
        private final MessageDigest sha;
        private long received;
        private boolean closed;

        private Upload(String dataset, FileRow header, Path partial) throws IOException {
            this.dataset = dataset;
            this.header = header;
            this.partial = partial;
            this.out = Files.newOutputStream(partial);
            try {
                this.sha = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        /** The file being received. */
        public FileRow header() {
            return header;
        }

        /** Bytes still expected. */
        public long remaining() {
            return header.size() - received;
        }

        /** Appends bytes; more than the header's size is INVALID_ARGUMENT. */
        public void write(byte[] data) {
            if (received + data.length > header.size()) {
                abort();
                throw Refusal.invalid("file '" + shortened(header.name()) + "': more bytes than its header's size ("
                        + header.size() + ")");
            }
            try {
                out.write(data);
            } catch (IOException e) {
                abort();
                throw new UncheckedIOException(e);
            }
            sha.update(data);
            received += data.length;
        }

        /**
         * Checks the whole file (digest, a PNG or JPEG within the pixel bound that decodes), moves it into place
         * and lists it. A file that fails is not kept.
         */
        public FileRow finish() {
            try {
                out.close();
                if (received != header.size()) {
                    throw Refusal.invalid("file '" + shortened(header.name()) + "' ended after " + received + " of "
                            + header.size() + " bytes");
                }
                String digest = HexFormat.of().formatHex(sha.digest());
                if (!header.sha256().isEmpty() && !header.sha256().equalsIgnoreCase(digest)) {
                    throw Refusal.invalid("file '" + shortened(header.name()) + "': SHA-256 mismatch (the header says "
                            + header.sha256() + ", the bytes are " + digest + "); it was corrupted in transit");
                }
                try {
                    ImageCodec.decodeChw(Files.readAllBytes(partial), 1, 4, limits.maxPixels(), PixelBudget.UNLIMITED);
                } catch (IllegalArgumentException bad) {
                    throw Refusal.invalid("file '" + shortened(header.name()) + "': " + bad.getMessage());
                }
                FileRow row = new FileRow(header.split(), header.label(), header.name(), received, digest);
                keep(dataset, row, partial);
                closed = true;
                return row;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } finally {
                if (!closed) {
                    abort();
                }
            }
        }

        /** Drops the file (the stream broke or the client sent something wrong). */
        public void abort() {
            if (closed) {
                return;
            }
            closed = true;
            try {
                out.close();
            } catch (IOException ignored) {
                // the partial file goes anyway
            }
            release(dataset, partial);
        }
    }

    private synchronized void keep(String dataset, FileRow row, Path partial) throws IOException {
        Entry e = datasets.get(dataset);
        if (e == null || e.rows == null) {
            throw Refusal.wrongState("dataset '" + dataset + "' was sealed or deleted during the upload");
        }
        Path d = dir.resolve(dataset);
        Path target = imagePath(d, row);
        Files.createDirectories(target.getParent());
        Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        try (BufferedWriter w = Files.newBufferedWriter(
                d.resolve("files.tsv"), StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            w.write(row.line());
            w.write('\n');
        }
        FileRow old = e.rows.put(row.key(), row);
        totalBytes += row.size() - (old == null ? 0 : old.size());
        e.info = counted(e.info, e.rows);
        e.uploads--;
    }

    private synchronized void release(String dataset, Path partial) {
        try {
            Files.deleteIfExists(partial);
        } catch (IOException ignored) {
            // removed at the next start
        }
        Entry e = datasets.get(dataset);
        if (e != null && e.uploads > 0) {
            e.uploads--;
        }
    }

    /** Seals an open dataset: it no longer changes, and its checksum covers every file. */
    public synchronized Info seal(String name) {
        Entry e = entry(name);
        if (e.info.state() == State.READY) {
            return e.info;
        }
        if (e.uploads > 0) {
            throw Refusal.wrongState("dataset '" + name + "' has " + e.uploads + " file(s) arriving now; seal it "
                    + "when the upload has ended");
        }
        if (!e.info.splits().containsKey("train")) {
            throw Refusal.wrongState("dataset '" + name + "' has no file in its 'train' split; upload images first");
        }
        for (var s : e.info.splits().entrySet()) {
            Long unlabelled = s.getValue().labels().get("");
            if (unlabelled != null && s.getValue().labels().size() > 1) {
                throw Refusal.wrongState("dataset '" + name + "': split '" + s.getKey() + "' has " + unlabelled
                        + " unlabelled and " + (s.getValue().files() - unlabelled) + " labelled files; "
                        + "give every file of a split a label, or none");
            }
        }
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
        for (FileRow r : e.rows.values()) {
            sha.update((r.key() + '\u0000' + r.sha256() + '\n').getBytes(StandardCharsets.UTF_8));
        }
        Info sealed = new Info(
                name,
                e.info.description(),
                State.READY,
                e.info.files(),
                e.info.bytes(),
                e.info.splits(),
                HexFormat.of().formatHex(sha.digest()),
                e.info.createdAt(),
                Instant.now());
        Path d = dir.resolve(name);
        try {
            rewriteList(d, e.rows);
            writeInfo(d, sealed);
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        e.info = sealed;
        e.rows = null;
        LOG.infof(
                "dataset %s sealed: %d files, %d bytes, sha256 %s",
                name, sealed.files(), sealed.bytes(), sealed.sha256());
        return sealed;
    }

    /** Deletes a dataset and its files. */
    public void delete(String name) {
        Entry e;
        synchronized (this) {
            e = entry(name);
            if (e.uploads > 0) {
                throw Refusal.wrongState("dataset '" + name + "' has " + e.uploads + " file(s) arriving now");
            }
            datasets.remove(name);
            totalBytes -= e.info.bytes();
        }
        Path d = dir.resolve(name);
        // Renamed away first: a crash while deleting leaves no half dataset under its name.
        try {
            Path gone = dir.resolve("." + name + ".deleted-" + System.nanoTime());
            Files.move(d, gone, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(gone);
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        LOG.infof("dataset %s deleted", name);
    }

    // ---- helpers ----

    private Entry entry(String name) {
        if (name == null || name.isEmpty()) {
            throw Refusal.invalid("name the dataset");
        }
        Entry e = datasets.get(name);
        if (e == null) {
            throw Refusal.notFound("no uploaded dataset '" + shortened(name) + "' on this service"
                    + (datasets.isEmpty()
                            ? " (it holds none; datasets are uploaded to the trainer-service)"
                            : "; datasets: "
                                    + String.join(
                                            ", ",
                                            datasets.keySet().stream().limit(20).toList())));
        }
        return e;
    }

    private Entry openEntry(String name) {
        Entry e = entry(name);
        if (e.rows == null) {
            throw Refusal.wrongState("dataset '" + name + "' is sealed and no longer changes; create another");
        }
        return e;
    }

    private static Path imagePath(Path dataset, FileRow r) {
        Path p = dataset.resolve("images").resolve(r.split());
        return (r.label().isEmpty() ? p : p.resolve(r.label())).resolve(r.name());
    }

    private void requireHeader(FileRow h) {
        if (!FILE.matcher(h.name()).matches() || h.name().endsWith(" ") || !imageName(h.name())) {
            throw Refusal.invalid(
                    "file name '" + shortened(h.name()) + "' is not allowed: 1-128 letters, digits, spaces, "
                            + "'.', '_', '+' or '-', starting with a letter or digit, ending in .png, .jpg or .jpeg "
                            + "(no folders: give the label and split instead)");
        }
        if (!h.label().isEmpty()
                && (!LABEL.matcher(h.label()).matches() || h.label().endsWith(" ") || SPLITS.contains(h.label()))) {
            throw Refusal.invalid(
                    "label '" + shortened(h.label()) + "' is not allowed: 1-64 letters, digits, spaces, '.', "
                            + "'_', '+' or '-', starting with a letter or digit, not 'train' or 'test'");
        }
        if (!SPLITS.contains(h.split())) {
            throw Refusal.invalid("split '" + shortened(h.split()) + "' is not one of: train, test");
        }
        if (h.size() <= 0) {
            throw Refusal.invalid("file '" + shortened(h.name()) + "': size must be the file's size in bytes (> 0)");
        }
        if (h.size() > limits.maxFileBytes()) {
            throw Refusal.quota("file '" + shortened(h.name()) + "' is " + h.size() + " bytes; the limit is "
                    + limits.maxFileBytes() + " (selfsup.datasets.max-file-bytes)");
        }
        if (!h.sha256().isEmpty() && !h.sha256().matches("[0-9a-fA-F]{64}")) {
            throw Refusal.invalid("file '" + shortened(h.name()) + "': sha256 must be 64 hex digits, or empty");
        }
    }

    private static boolean imageName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    /** Refuses a name that breaks the rule. */
    public static void requireName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw Refusal.invalid(
                    "dataset name '" + shortened(name == null ? "" : name) + "' is not valid: use 1 to 64 of "
                            + "a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
        }
    }

    private static void writeInfo(Path d, Info info) throws IOException {
        Path tmp = AtomicFiles.tempBeside(d.resolve("dataset.json"));
        Files.writeString(tmp, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(info));
        Files.move(tmp, d.resolve("dataset.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void rewriteList(Path d, TreeMap<String, FileRow> rows) throws IOException {
        Path tmp = AtomicFiles.tempBeside(d.resolve("files.tsv"));
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (FileRow r : rows.values()) {
                w.write(r.line());
                w.write('\n');
            }
        }
        Files.move(tmp, d.resolve("files.tsv"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    private static void deleteTreeQuietly(Path root) {
        try {
            deleteTree(root);
        } catch (IOException ignored) {
            // a leftover folder without dataset.json is skipped at start
        }
    }

    /** A client's value as a message quotes it: at most 100 characters, and its length when cut. */
    public static String shortened(String value) {
        return value.length() > 100 ? value.substring(0, 100) + "... (" + value.length() + " characters)" : value;
    }
}
