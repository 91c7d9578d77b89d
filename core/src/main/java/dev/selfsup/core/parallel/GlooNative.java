package dev.selfsup.core.parallel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The JNI shim over Debian's Gloo ({@code src/main/native/selfsup_gloo.cpp}), built by core's Maven build where
 * {@code libgloo-dev} is installed and packed into the jar. The JVM opens native libraries with {@code RTLD_LOCAL},
 * so the shim's Gloo symbols resolve to {@code libgloo.so.0} and never to the copy of Gloo inside libtorch.
 */
final class GlooNative {
    private static final String RESOURCE = "/dev/selfsup/core/parallel/native/libselfsup_gloo.so";
    private static final String PROBLEM = load();

    private GlooNative() {}

    /** Null when the shim is loaded; else why not, in words for a person. */
    static String problem() {
        return PROBLEM;
    }

    private static String load() {
        if (!System.getProperty("os.name", "")
                        .toLowerCase(java.util.Locale.ROOT)
                        .contains("linux")
                || !"amd64".equals(System.getProperty("os.arch"))) {
            return "worker processes need Linux on x86_64 (Gloo's shim is built for it only)";
        }
        byte[] shim;
        try (InputStream in = GlooNative.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return "this build has no Gloo shim: install Debian's libgloo-dev and g++, then rebuild";
            }
            shim = in.readAllBytes();
        } catch (IOException e) {
            return "the Gloo shim could not be read: " + e.getMessage();
        }
        try {
            System.load(unpack(shim).toString());
            return null;
        } catch (IOException e) {
            return "the Gloo shim could not be unpacked: " + e.getMessage();
        } catch (UnsatisfiedLinkError e) {
            return "the Gloo shim could not be loaded (is Debian's libgloo0 installed?): " + e.getMessage();
        }
    }

    /**
     * The shim as a file: in {@code SELFSUP_NATIVE_DIR} when set (a container unpacks it there when its image is
     * built, since its /tmp may forbid running code), else in a new temporary folder. The file's name carries
     * its content's hash, so a folder never serves an older build.
     */
    private static Path unpack(byte[] shim) throws IOException {
        String hash;
        try {
            hash = java.util.HexFormat.of()
                    .formatHex(
                            java.security.MessageDigest.getInstance("SHA-256").digest(shim))
                    .substring(0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String name = "libselfsup_gloo-" + hash + ".so";
        String configured = System.getenv("SELFSUP_NATIVE_DIR");
        if (configured != null && !configured.isBlank()) {
            Path dir = Path.of(configured);
            Path lib = dir.resolve(name);
            if (Files.isRegularFile(lib) && Files.size(lib) == shim.length) {
                return lib;
            }
            if (Files.isDirectory(dir) && Files.isWritable(dir)) {
                Path tmp = Files.createTempFile(dir, "gloo", ".tmp");
                Files.write(tmp, shim);
                return Files.move(tmp, lib, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        }
        Path dir = Files.createTempDirectory("selfsup-gloo");
        Path lib = dir.resolve(name);
        Files.write(lib, shim);
        lib.toFile().deleteOnExit();
        dir.toFile().deleteOnExit();
        return lib;
    }

    static native long connect(
            int rank,
            int size,
            String storeKind,
            String storeAddress,
            int storePort,
            String prefix,
            String hostname,
            long connectMillis,
            long timeoutMillis);

    static native void allReduceSum(long group, ByteBuffer buffer, long floats);

    static native void allGather(long group, ByteBuffer in, ByteBuffer out, long bytes);

    static native void broadcast(long group, ByteBuffer buffer, long bytes, int root);

    static native void barrier(long group);

    static native void close(long group);
}
