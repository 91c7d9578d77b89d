package dev.selfsup.trainer;

import dev.selfsup.core.io.AtomicFiles;
import dev.selfsup.proto.v1.Run;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The run registry on disk: {@code <var>/runs/<id>/run.pb} (the Run message, written atomically), with the run's
 * checkpoints and encoder beside it. Survives restarts; a run file that cannot be read is skipped with a warning.
 */
@ApplicationScoped
public class RunStore {
    private static final Logger LOG = Logger.getLogger(RunStore.class);

    @ConfigProperty(name = "selfsup.var-dir", defaultValue = "var")
    Path varDir;

    public Path runDir(String id) {
        return varDir.resolve("runs").resolve(id);
    }

    public Path checkpointDir(String id) {
        return runDir(id).resolve("checkpoints");
    }

    public Path encoderFile(String id) {
        return runDir(id).resolve("encoder.bundle");
    }

    /** Writes the run atomically (temp file, fsync, rename). */
    public synchronized void save(Run run) {
        Path dir = runDir(run.getRunId());
        try {
            Files.createDirectories(dir);
            Path tmp = AtomicFiles.tempBeside(dir.resolve("run.pb"));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(run.toByteArray()));
                ch.force(true);
            }
            try {
                Files.move(
                        tmp,
                        dir.resolve("run.pb"),
                        StandardCopyOption.ATOMIC_MOVE,
                        StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir.resolve("run.pb"), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save run " + run.getRunId(), e);
        }
    }

    /** Every stored run. */
    public List<Run> loadAll() {
        Path runs = varDir.resolve("runs");
        List<Run> out = new ArrayList<>();
        if (!Files.isDirectory(runs)) {
            return out;
        }
        try (Stream<Path> s = Files.list(runs)) {
            for (Path dir : s.toList()) {
                // At start nothing writes yet: what a killed write left is garbage.
                AtomicFiles.removeLeftovers(dir);
                Path f = dir.resolve("run.pb");
                if (Files.isRegularFile(f)) {
                    try {
                        out.add(Run.parseFrom(Files.readAllBytes(f)));
                    } catch (IOException e) {
                        LOG.warnf("skipping unreadable run file %s: %s", f, e.getMessage());
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** Deletes a run's folder and everything in it. */
    public synchronized void delete(String id) {
        Path dir = runDir(id);
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete run " + id, e);
        }
    }
}
