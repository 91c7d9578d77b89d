package dev.selfsup.encoder;

import dev.selfsup.core.io.Json;
import dev.selfsup.service.ModelNames;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;

/**
 * The encoder-service's files: {@code <root>/<model>/v<N>.bundle} (the encoder), {@code v<N>.json} (what was
 * published), {@code v<N>.gallery}, {@code default.json} (a pinned default version) and {@code last-version} (so
 * numbers are never reused). Every file is written to
 * a temporary name and moved into place, so a crash leaves either the old file or the new one.
 */
public final class ModelStore {
    /** Model names: they become folder names, so nothing that could leave the store. */
    public static final Pattern NAME = ModelNames.PATTERN;

    private static final Pattern VERSION_FILE = Pattern.compile("v(\\d+)\\.json");

    /** What was published as one version. */
    public record VersionRecord(
            String name, int version, String sha256, long sizeBytes, String runId, Instant publishedAt) {}

    private record DefaultPin(int version) {}

    /**
     * A version whose record cannot be read: what {@link #list} left out, and why (said to clients as its error).
     *
     * @param placeholder the name and version, as the file name says them
     */
    public record Broken(VersionRecord placeholder, String problem) {}

    private static final Logger LOG = Logger.getLogger(ModelStore.class);
    private final List<Broken> broken = new ArrayList<>();
    private final Set<Path> warnedPins = ConcurrentHashMap.newKeySet();
    private final Consumer<String> brokenFile;

    private final Path root;

    public ModelStore(Path root) throws IOException {
        this(root, kind -> {});
    }

    /** @param brokenFile told the kind of every file that cannot be read ("record", "default", "last-version") */
    public ModelStore(Path root, Consumer<String> brokenFile) throws IOException {
        this.root = root;
        this.brokenFile = brokenFile;
        Path uploads = root.resolve(".uploads");
        Files.createDirectories(uploads);
        // Uploads cut short by a crash are of no use: a publisher that got no answer sends again.
        try (DirectoryStream<Path> left = Files.newDirectoryStream(uploads, "*.part")) {
            for (Path p : left) {
                Files.deleteIfExists(p);
            }
        }
    }

    public Path root() {
        return root;
    }

    /** A fresh file for an upload in progress. */
    public Path newUploadFile() throws IOException {
        return Files.createTempFile(root.resolve(".uploads"), "upload-", ".part");
    }

    public Path bundleFile(String name, int version) {
        return root.resolve(name).resolve("v" + version + ".bundle");
    }

    public Path galleryFile(String name, int version) {
        return root.resolve(name).resolve("v" + version + ".gallery");
    }

    /** Moves a checked upload into place as a version, then writes its record (which makes it count). */
    public void commit(Path upload, VersionRecord record) throws IOException {
        Path dir = root.resolve(record.name());
        Files.createDirectories(dir);
        Files.move(
                upload,
                bundleFile(record.name(), record.version()),
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        writeAtomically(dir.resolve("v" + record.version() + ".json"), Json.write(record));
        // Version numbers are never reused, even after the newest is removed: clients may remember them.
        Path mark = dir.resolve("last-version");
        int last = readLastVersion(mark);
        if (record.version() > last) {
            writeAtomically(mark, Integer.toString(record.version()));
        }
    }

    /** Removes a version's files, record first (so a crash midway leaves no half version). */
    public void delete(String name, int version) throws IOException {
        Path dir = root.resolve(name);
        Files.deleteIfExists(dir.resolve("v" + version + ".json"));
        Files.deleteIfExists(bundleFile(name, version));
        Files.deleteIfExists(galleryFile(name, version));
        Files.deleteIfExists(Gallery.lockFile(galleryFile(name, version)));
        OptionalInt pin = pinnedDefault(name);
        if (pin.isPresent() && pin.getAsInt() == version) {
            pinDefault(name, 0);
        }
    }

    /** The versions whose records the last {@link #list} could not read. */
    public synchronized List<Broken> broken() {
        return List.copyOf(broken);
    }

    /**
     * Every stored version whose record can be read, by model then version. A record that cannot be read is left
     * out, named in the log and counted, and kept in {@link #broken}: one bad file never hides the others.
     */
    public synchronized List<VersionRecord> list() throws IOException {
        List<VersionRecord> out = new ArrayList<>();
        List<Broken> bad = new ArrayList<>();
        try (DirectoryStream<Path> models = Files.newDirectoryStream(
                root,
                p -> Files.isDirectory(p)
                        && NAME.matcher(p.getFileName().toString()).matches())) {
            for (Path model : models) {
                try (DirectoryStream<Path> files = Files.newDirectoryStream(model, "v*.json")) {
                    for (Path f : files) {
                        Matcher m = VERSION_FILE.matcher(f.getFileName().toString());
                        String name = model.getFileName().toString();
                        if (m.matches() && Files.exists(bundleFile(name, Integer.parseInt(m.group(1))))) {
                            try {
                                out.add(readRecord(f, name, Integer.parseInt(m.group(1))));
                            } catch (IOException | RuntimeException e) {
                                String problem = "its record " + f.getFileName() + " cannot be read (" + shortReason(e)
                                        + "); publish the version again or remove it";
                                bad.add(new Broken(
                                        new VersionRecord(name, Integer.parseInt(m.group(1)), "", 0, "", null),
                                        problem));
                            }
                        }
                    }
                }
            }
        }
        if (!bad.equals(broken)) {
            for (Broken b : bad) {
                if (!broken.contains(b)) {
                    LOG.errorf(
                            "model store: %s v%d: %s",
                            b.placeholder().name(), b.placeholder().version(), b.problem());
                    brokenFile.accept("record");
                }
            }
            broken.clear();
            broken.addAll(bad);
        }
        out.sort((a, b) -> a.name().equals(b.name())
                ? Integer.compare(a.version(), b.version())
                : a.name().compareTo(b.name()));
        return out;
    }

    /**
     * Takes the next version number of {@code name} (above {@code atLeast} and above every number this store has
     * given out) and records it at once, under a file lock: replicas sharing one store never hand out the same
     * number, and a failed upload burns its number rather than reusing it.
     */
    public int reserveVersion(String name, int atLeast) throws IOException {
        Path dir = root.resolve(name);
        Files.createDirectories(dir);
        synchronized (ModelStore.class) { // the file lock is per process, so threads also take turns
            try (FileChannel lock = FileChannel.open(
                            root.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    FileLock held = lock.lock()) {
                int next = Math.max(lastVersion(name), atLeast) + 1;
                writeAtomically(dir.resolve("last-version"), Integer.toString(next));
                return next;
            }
        }
    }

    /** The highest version number ever stored for {@code name} (0 if none). */
    public int lastVersion(String name) throws IOException {
        Path dir = root.resolve(name);
        int last = readLastVersion(dir.resolve("last-version"));
        if (Files.isDirectory(dir)) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "v*.*")) {
                for (Path f : files) {
                    Matcher m = Pattern.compile("v(\\d+)\\..*")
                            .matcher(f.getFileName().toString());
                    if (m.matches()) {
                        last = Math.max(last, Integer.parseInt(m.group(1)));
                    }
                }
            }
        }
        return last;
    }

    /** The number in a last-version mark; a garbled mark counts as 0 (the version files still bound it). */
    private int readLastVersion(Path mark) throws IOException {
        if (!Files.exists(mark)) {
            return 0;
        }
        try {
            return Integer.parseInt(Files.readString(mark).trim());
        } catch (NumberFormatException e) {
            LOG.errorf("model store: %s cannot be read; the version files give the last number", mark);
            brokenFile.accept("last-version");
            return 0;
        }
    }

    /** A version record, checked against the file it came from. */
    private static VersionRecord readRecord(Path f, String name, int version) throws IOException {
        VersionRecord r = Json.MAPPER.readValue(f.toFile(), VersionRecord.class);
        if (r == null || !name.equals(r.name()) || r.version() != version) {
            throw new IOException("it names another version");
        }
        return r;
    }

    private static String shortReason(Throwable e) {
        String m = e.getMessage() == null ? "unreadable" : e.getMessage();
        int nl = m.indexOf('\n');
        return nl > 0 ? m.substring(0, nl) : m;
    }

    /** The pinned default version of {@code name}, if one is pinned. */
    public OptionalInt pinnedDefault(String name) throws IOException {
        Path f = root.resolve(name).resolve("default.json");
        if (!Files.exists(f)) {
            return OptionalInt.empty();
        }
        int v;
        try {
            v = Json.MAPPER.readValue(f.toFile(), DefaultPin.class).version();
        } catch (IOException | RuntimeException e) {
            // A garbled pin does not stop the model: its newest version is the default until one is pinned again.
            if (warnedPins.add(f)) {
                LOG.errorf(
                        "model store: %s cannot be read (%s); %s serves its newest version by default",
                        f, shortReason(e), name);
                brokenFile.accept("default");
            }
            return OptionalInt.empty();
        }
        return v > 0 ? OptionalInt.of(v) : OptionalInt.empty();
    }

    /** Pins (version > 0) or unpins (0) the default version. */
    public void pinDefault(String name, int version) throws IOException {
        Path dir = root.resolve(name);
        if (version == 0) {
            Files.deleteIfExists(dir.resolve("default.json"));
            return;
        }
        Files.createDirectories(dir);
        writeAtomically(dir.resolve("default.json"), Json.write(new DefaultPin(version)));
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
