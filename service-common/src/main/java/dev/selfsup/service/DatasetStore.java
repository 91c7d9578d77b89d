package dev.selfsup.service;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
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
                        DatasetFolder.deleteTreeQuietly(d); // a delete cut short
                        continue;
                    }
                    if (!DatasetRules.NAME.matcher(name).matches() || !Files.exists(d.resolve("dataset.json"))) {
                        continue;
                    }
                    try {
                        DatasetFolder.Loaded loaded = DatasetFolder.load(d);
                        Entry e = new Entry();
                        e.info = loaded.info();
                        e.rows = loaded.rows();
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
        List<FileRow> page;
        synchronized (this) {
            Entry e = entry(name);
            if (e.rows != null) {
                page = new ArrayList<>((after == null ? e.rows : e.rows.tailMap(after, false))
                        .values().stream().limit(size + 1L).toList());
            } else {
                page = null;
            }
        }
        if (page == null) {
            // Sealed: the list on disk is in order and does not change.
            try {
                page = DatasetFolder.page(dir.resolve(name), after, size + 1);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        // One more than asked for says whether there is a next page.
        boolean more = page.size() > size;
        List<FileRow> shown = more ? page.subList(0, size) : page;
        return Map.entry(shown, more ? token(shown.get(size - 1)) : "");
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
            throw Refusal.notFound("dataset '" + name + "' has no '" + DatasetRules.shortened(split)
                    + "' split; it has: " + String.join(", ", e.info.splits().keySet()));
        }
        return Map.entry(dir.resolve(name).resolve("images").resolve(split), e.info.sha256());
    }

    // ---- changing ----

    /** Creates an open, empty dataset. */
    public synchronized Info create(String name, String description) {
        DatasetRules.requireName(name);
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
            DatasetFolder.writeInfo(d, info);
        } catch (IOException e) {
            DatasetFolder.deleteTreeQuietly(d);
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
     * The caller writes the bytes, then calls {@link IncomingFile#finish()} (or {@link IncomingFile#abort()}).
     */
    public IncomingFile begin(String dataset, FileRow header) {
        DatasetRules.requireHeader(header, limits.maxFileBytes());
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
                throw Refusal.quota(
                        "file '" + DatasetRules.shortened(header.name()) + "' would take dataset '" + dataset + "' to "
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
            return new IncomingFile(this, dataset, header, partial, limits.maxPixels());
        } catch (IOException ex) {
            release(dataset, partial);
            throw new UncheckedIOException(ex);
        }
    }

    synchronized void keep(String dataset, FileRow row, Path partial) throws IOException {
        Entry e = datasets.get(dataset);
        if (e == null || e.rows == null) {
            throw Refusal.wrongState("dataset '" + dataset + "' was sealed or deleted during the upload");
        }
        Path d = dir.resolve(dataset);
        Path target = DatasetFolder.imagePath(d, row);
        Files.createDirectories(target.getParent());
        Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        DatasetFolder.append(d, row);
        FileRow old = e.rows.put(row.key(), row);
        totalBytes += row.size() - (old == null ? 0 : old.size());
        e.info = DatasetFolder.counted(e.info, e.rows);
        e.uploads--;
    }

    synchronized void release(String dataset, Path partial) {
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
            DatasetFolder.rewriteList(d, e.rows);
            DatasetFolder.writeInfo(d, sealed);
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
            DatasetFolder.deleteTree(gone);
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
            throw Refusal.notFound("no uploaded dataset '" + DatasetRules.shortened(name) + "' on this service"
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
}
