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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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

    private final Path root;

    public ModelStore(Path root) throws IOException {
        this.root = root;
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
        int last = Files.exists(mark) ? Integer.parseInt(Files.readString(mark).trim()) : 0;
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
        OptionalInt pin = pinnedDefault(name);
        if (pin.isPresent() && pin.getAsInt() == version) {
            pinDefault(name, 0);
        }
    }

    /** Every stored version, by model then version. */
    public List<VersionRecord> list() throws IOException {
        List<VersionRecord> out = new ArrayList<>();
        try (DirectoryStream<Path> models = Files.newDirectoryStream(
                root,
                p -> Files.isDirectory(p)
                        && NAME.matcher(p.getFileName().toString()).matches())) {
            for (Path model : models) {
                try (DirectoryStream<Path> files = Files.newDirectoryStream(model, "v*.json")) {
                    for (Path f : files) {
                        Matcher m = VERSION_FILE.matcher(f.getFileName().toString());
                        if (m.matches()
                                && Files.exists(
                                        bundleFile(model.getFileName().toString(), Integer.parseInt(m.group(1))))) {
                            out.add(Json.MAPPER.readValue(f.toFile(), VersionRecord.class));
                        }
                    }
                }
            }
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
        int last = 0;
        Path dir = root.resolve(name);
        Path mark = dir.resolve("last-version");
        if (Files.exists(mark)) {
            last = Integer.parseInt(Files.readString(mark).trim());
        }
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

    /** The pinned default version of {@code name}, if one is pinned. */
    public OptionalInt pinnedDefault(String name) throws IOException {
        Path f = root.resolve(name).resolve("default.json");
        if (!Files.exists(f)) {
            return OptionalInt.empty();
        }
        int v = Json.MAPPER.readValue(f.toFile(), DefaultPin.class).version();
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
