package dev.selfsup.trainer;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.selfsup.core.io.AtomicFiles;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunState;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The run registry on disk: {@code <var>/runs/<id>/run.pb} (a header, the SHA-256 of the Run message, the message;
 * written atomically), with the run's checkpoints and encoder beside it. Survives restarts. A record that fails its
 * checksum or cannot be parsed is not served as truth: it comes back as a FAILED run that says so, and the file is
 * left as it is for the operator.
 */
@ApplicationScoped
public class RunStore {
    private static final Logger LOG = Logger.getLogger(RunStore.class);

    /** The start of every record written since records carry a checksum; older records are the bare message. */
    static final byte[] MAGIC = "selfsup-run/2\n".getBytes(StandardCharsets.US_ASCII);

    @ConfigProperty(name = "selfsup.var-dir", defaultValue = "var")
    Path varDir;

    /** A record as read at start: the run, and what was wrong with its file if anything (null when sound). */
    public record Loaded(Run run, String problem) {}

    /** Where the registry lives, for the operator's log. */
    public Path root() {
        return varDir.resolve("runs");
    }

    /** True if a new record could be written now (the folder exists or can be made, and takes a file). */
    public boolean writable() {
        try {
            Files.createDirectories(root());
            Path probe = AtomicFiles.tempBeside(root().resolve("write-check"));
            Files.delete(probe);
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

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
                byte[] body = run.toByteArray();
                ch.write(ByteBuffer.wrap(MAGIC));
                ch.write(ByteBuffer.wrap(sha256(body)));
                ch.write(ByteBuffer.wrap(body));
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

    /** Every stored run; a record that cannot be trusted comes back FAILED with its problem. */
    public List<Loaded> loadAll() {
        Path runs = varDir.resolve("runs");
        List<Loaded> out = new ArrayList<>();
        if (!Files.isDirectory(runs)) {
            return out;
        }
        try (Stream<Path> s = Files.list(runs)) {
            for (Path dir : s.toList()) {
                // At start nothing writes yet: what a killed write left is garbage.
                AtomicFiles.removeLeftovers(dir);
                Path f = dir.resolve("run.pb");
                if (Files.isRegularFile(f)) {
                    String id = dir.getFileName().toString();
                    try {
                        out.add(new Loaded(read(Files.readAllBytes(f), id), null));
                    } catch (IOException e) {
                        LOG.errorf(
                                "run record %s cannot be trusted: %s; the run is listed as FAILED", f, e.getMessage());
                        Run broken = Run.newBuilder()
                                .setRunId(id)
                                .setState(RunState.RUN_STATE_FAILED)
                                .setError("this run's record in the registry " + e.getMessage() + "; its checkpoints "
                                        + "and encoder are kept; DeleteRun removes it")
                                .build();
                        out.add(new Loaded(broken, e.getMessage()));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /**
     * A run from its record's bytes.
     *
     * @throws IOException saying what is wrong (a checksum that does not match, a message that does not parse)
     */
    static Run read(byte[] bytes, String id) throws IOException {
        byte[] body = bytes;
        if (startsWith(bytes, MAGIC)) {
            int at = MAGIC.length + 32;
            if (bytes.length < at) {
                throw new IOException("is truncated");
            }
            body = Arrays.copyOfRange(bytes, at, bytes.length);
            if (!MessageDigest.isEqual(sha256(body), Arrays.copyOfRange(bytes, MAGIC.length, at))) {
                throw new IOException("failed its checksum (the file was changed or damaged)");
            }
        }
        Run run;
        try {
            run = Run.parseFrom(body);
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("cannot be parsed (the file was changed or damaged)");
        }
        if (!run.getRunId().equals(id)) {
            throw new IOException("names another run (" + run.getRunId() + ")");
        }
        return run;
    }

    private static boolean startsWith(byte[] bytes, byte[] prefix) {
        return bytes.length >= prefix.length && Arrays.equals(bytes, 0, prefix.length, prefix, 0, prefix.length);
    }

    private static byte[] sha256(byte[] body) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(body);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
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
