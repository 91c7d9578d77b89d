package dev.selfsup.spark;

import ai.djl.ndarray.NDManager;
import dev.selfsup.core.engine.IntraOpThreads;
import dev.selfsup.core.numerics.NumericsGuard;
import dev.selfsup.core.train.BundleEmbedder;
import dev.selfsup.core.train.EncoderBundle;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkFiles;

/**
 * The encoder bundles loaded in this executor's JVM, one per SHA-256: every task of the executor shares one copy of
 * the network (inference only reads it), loaded once after the numerics self-check, as the encoder-service does. The
 * first bundle sets libtorch's threads per operation for the executor's JVM.
 */
final class ExecutorBundles {
    private static final Map<String, BundleEmbedder> LOADED = new ConcurrentHashMap<>();

    private ExecutorBundles() {}

    /**
     * The bundle whose SHA-256 is {@code sha256}, loaded from {@code location} (a path every executor can read) or,
     * if that path is not on this machine, from the copy {@code spark-submit --files} shipped here.
     *
     * @throws IllegalStateException if the file found here is not the bundle the driver hashed
     */
    static BundleEmbedder get(String location, String sha256, int maxBatch, int intraOpThreads) {
        return LOADED.computeIfAbsent(sha256, k -> load(location, sha256, maxBatch, intraOpThreads));
    }

    private static BundleEmbedder load(String location, String sha256, int maxBatch, int intraOpThreads) {
        Path file = Path.of(location);
        if (!Files.isRegularFile(file)) {
            file = Path.of(SparkFiles.get(file.getFileName().toString()));
        }
        String found = sha256(file);
        if (!found.equals(sha256)) {
            throw new IllegalStateException(
                    "the encoder bundle " + file.getFileName() + " on this executor has SHA-256 " + found
                            + ", not the driver's " + sha256 + ": give every executor the same file");
        }
        NumericsGuard.verify();
        // Spark runs one task per core at a time: one thread per operation each, as the encoder-service does.
        IntraOpThreads.set(intraOpThreads);
        NDManager manager = NDManager.newBaseManager();
        try {
            return new BundleEmbedder(EncoderBundle.read(file, manager), manager, maxBatch);
        } catch (IOException e) {
            manager.close();
            throw new UncheckedIOException("the encoder bundle " + file.getFileName() + " cannot be read", e);
        }
    }

    /** The file's SHA-256 in lower-case hex. */
    static String sha256(Path file) {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return HexFormat.of()
                    .formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file.getFileName(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
