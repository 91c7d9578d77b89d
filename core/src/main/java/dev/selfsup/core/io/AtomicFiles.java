package dev.selfsup.core.io;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The temporary files of atomic writes. Every store writes a file as a hidden temporary beside it
 * ({@code .NAME*.tmp}), then renames it; a process killed in between leaves the temporary behind, which
 * {@link #removeLeftovers} deletes when the store starts again.
 */
public final class AtomicFiles {
    private static final Logger LOG = LoggerFactory.getLogger(AtomicFiles.class);

    private AtomicFiles() {}

    /** A new temporary file beside {@code file}, for writing it atomically. */
    public static Path tempBeside(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        return Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
    }

    /**
     * Deletes what interrupted writes left in {@code dir}. Call it only while nothing writes to that folder:
     * when its store starts.
     *
     * @return how many files were removed
     */
    public static int removeLeftovers(Path dir) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        int removed = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, ".*.tmp")) {
            for (Path f : files) {
                if (Files.isRegularFile(f) && Files.deleteIfExists(f)) {
                    removed++;
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot clean {}: {}", dir.getFileName(), e.getMessage());
        }
        if (removed > 0) {
            LOG.info("removed {} unfinished write(s) in {}", removed, dir);
        }
        return removed;
    }
}
