package dev.selfsup.core.engine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Loads the JNI shims core's Maven build compiles from {@code src/main/native} and packs into the jar (where g++
 * is installed). A shim that is missing or fails to load is reported as a sentence for a person, never thrown:
 * the feature it serves is then refused with that reason and everything else runs.
 */
public final class NativeShims {
    private NativeShims() {}

    /**
     * Loads the shim packed at {@code resource} (a path inside the jar beside {@code owner}'s classes).
     *
     * @param what what the shim is for, as the start of a sentence ("the Gloo shim")
     * @param rebuildHint what to install before rebuilding when the build has no shim
     * @param loadHint what to check when the shim is there but does not load (its libraries)
     * @return null when it is loaded, else why not
     */
    public static String load(Class<?> owner, String resource, String what, String rebuildHint, String loadHint) {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")
                || !"amd64".equals(System.getProperty("os.arch"))) {
            return what + " is built for Linux on x86_64 only";
        }
        byte[] shim;
        try (InputStream in = owner.getResourceAsStream(resource)) {
            if (in == null) {
                return "this build has no " + what.replaceFirst("^the ", "") + ": " + rebuildHint;
            }
            shim = in.readAllBytes();
        } catch (IOException e) {
            return what + " could not be read: " + e.getMessage();
        }
        String base = resource.substring(resource.lastIndexOf('/') + 1).replaceFirst("\\.so$", "");
        try {
            System.load(unpack(shim, base).toString());
            return null;
        } catch (IOException e) {
            return what + " could not be unpacked: " + e.getMessage();
        } catch (UnsatisfiedLinkError e) {
            return what + " could not be loaded (" + loadHint + "): " + e.getMessage();
        }
    }

    /**
     * The shim as a file: in {@code SELFSUP_NATIVE_DIR} when set (a container unpacks it there when its image is
     * built, since its /tmp may forbid running code), else in a new temporary folder. The file's name carries
     * its content's hash, so a folder never serves an older build.
     */
    private static Path unpack(byte[] shim, String base) throws IOException {
        String hash;
        try {
            hash = HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(shim))
                    .substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String name = base + "-" + hash + ".so";
        String configured = System.getenv("SELFSUP_NATIVE_DIR");
        if (configured != null && !configured.isBlank()) {
            Path dir = Path.of(configured);
            Path lib = dir.resolve(name);
            if (Files.isRegularFile(lib) && Files.size(lib) == shim.length) {
                return lib;
            }
            if (Files.isDirectory(dir) && Files.isWritable(dir)) {
                Path tmp = Files.createTempFile(dir, base, ".tmp");
                Files.write(tmp, shim);
                return Files.move(tmp, lib, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        }
        Path dir = Files.createTempDirectory("selfsup-native");
        Path lib = dir.resolve(name);
        Files.write(lib, shim);
        lib.toFile().deleteOnExit();
        dir.toFile().deleteOnExit();
        return lib;
    }
}
