package dev.selfsup.core.train;

import dev.selfsup.core.io.AtomicFiles;
import dev.selfsup.core.io.TensorArchive;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The checkpoints of one run in a folder, as {@code step-0000001234.ckpt}. Writes are atomic (see
 * {@link TensorArchive}); the newest readable checkpoint wins, and only the last {@code keep} are kept. Opening
 * the store removes the temporary files of writes that a killed process left (only its run writes here).
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);
    private final Path dir;
    private final int keep;

    public CheckpointStore(Path dir, int keep) {
        this.dir = dir;
        this.keep = Math.max(1, keep);
        AtomicFiles.removeLeftovers(dir);
    }

    public Path dir() {
        return dir;
    }

    /** The file for step {@code step}. */
    public Path fileFor(long step) {
        return dir.resolve(String.format("step-%010d.ckpt", step));
    }

    /** Checkpoint files, oldest first. */
    public List<Path> list() throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches("step-\\d{10}\\.ckpt"))
                    .sorted()
                    .toList();
        }
    }

    /** The newest checkpoint that reads back whole, skipping (and logging) corrupt ones. */
    public Optional<Loaded> latest() throws IOException {
        List<Path> files = list();
        for (int i = files.size() - 1; i >= 0; i--) {
            try {
                return Optional.of(new Loaded(files.get(i), TensorArchive.read(files.get(i))));
            } catch (IOException e) {
                LOG.warn("skipping unreadable checkpoint {}: {}", files.get(i), e.getMessage());
            }
        }
        return Optional.empty();
    }

    /**
     * The newest checkpoint that reads back whole; empty only when there is no checkpoint at all. A run that has
     * checkpoints but none it can use must not start again from step 0 unasked.
     *
     * @throws NoUsableCheckpointException when every checkpoint is corrupt; its message names each file and why
     */
    public Optional<Loaded> latestUsable() throws IOException {
        List<Path> files = list();
        List<String> problems = new ArrayList<>();
        for (int i = files.size() - 1; i >= 0; i--) {
            Path f = files.get(i);
            try (InputStream in = Files.newInputStream(f)) {
                return Optional.of(
                        new Loaded(f, TensorArchive.read(in, f.getFileName().toString())));
            } catch (IOException e) {
                LOG.warn("skipping unreadable checkpoint {}: {}", f, e.getMessage());
                // Clients see the file's name, not the server's path.
                String why = e.getMessage() == null ? "unreadable" : e.getMessage();
                problems.add(why.contains(f.getFileName().toString()) ? why : f.getFileName() + ": " + why);
            }
        }
        if (!problems.isEmpty()) {
            throw new NoUsableCheckpointException(
                    "none of the " + problems.size() + " checkpoints can be read: " + String.join("; ", problems));
        }
        return Optional.empty();
    }

    /** Every checkpoint of a run is corrupt: resuming it would silently start over. */
    public static final class NoUsableCheckpointException extends IOException {
        NoUsableCheckpointException(String message) {
            super(message);
        }
    }

    /** Deletes every checkpoint, for a run that is to start over. */
    public void clear() throws IOException {
        for (Path f : list()) {
            Files.deleteIfExists(f);
        }
    }

    /** A checkpoint file and what it holds. */
    public record Loaded(Path file, TensorArchive.Contents contents) {}

    /** Deletes all but the newest {@code keep} checkpoints. */
    public void prune() throws IOException {
        List<Path> files = list();
        for (int i = 0; i < files.size() - keep; i++) {
            Files.deleteIfExists(files.get(i));
        }
    }
}
