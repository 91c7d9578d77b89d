package dev.selfsup.client;

import dev.selfsup.proto.Roles;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * The suite's token file: one line per role, {@code reader=TOKEN[,TOKEN...]} and {@code operator=...}, readable by
 * its owner only. Services that find none make one on first start; the CLI, the benches and the trainer read it.
 * Several tokens per role let a new token be added before the old one is removed (rotation without downtime).
 */
public final class TokenFile {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private TokenFile() {}

    /** The tokens of a file, by role. */
    public record Tokens(List<String> reader, List<String> operator) {
        public Tokens {
            reader = List.copyOf(reader);
            operator = List.copyOf(operator);
        }
    }

    /** A new random token: 32 bytes from a strong source, base64url, with the role as a readable prefix. */
    public static String newToken(String role) {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return "selfsup-" + role + "-" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    /** Reads a token file. */
    public static Tokens read(Path file) throws IOException {
        return parse(Files.readAllBytes(file));
    }

    /** The tokens of a token file's bytes. */
    public static Tokens parse(byte[] content) throws IOException {
        Properties p = new Properties();
        try (Reader r =
                new java.io.InputStreamReader(new java.io.ByteArrayInputStream(content), StandardCharsets.UTF_8)) {
            p.load(r);
        }
        return new Tokens(split(p.getProperty(Roles.READER)), split(p.getProperty(Roles.OPERATOR)));
    }

    /**
     * Whether users other than the owner may write the file or its folder: then anyone of them could make
     * themselves an operator, so a service refuses such a file.
     */
    public static boolean writableByOthers(Path file) throws IOException {
        for (Path p : new Path[] {file, file.toAbsolutePath().getParent()}) {
            if (p == null) {
                continue;
            }
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
            if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
                return true;
            }
        }
        return false;
    }

    /** The comma-separated tokens of one line, blanks dropped. */
    static List<String> split(String line) {
        List<String> out = new ArrayList<>();
        if (line != null) {
            for (String t : line.split(",")) {
                if (!t.isBlank()) {
                    out.add(t.strip());
                }
            }
        }
        return out;
    }

    /**
     * Reads the file, or makes it with a new reader and operator token if there is none. Safe when several services
     * start at once on one file: the file appears whole (written aside, then linked in place), and only one of them
     * creates it; the others read that one.
     *
     * @return the tokens, and whether this call created the file
     */
    public static Created readOrCreate(Path file) throws IOException {
        if (Files.exists(file)) {
            return new Created(read(file), false);
        }
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Tokens fresh = new Tokens(List.of(newToken(Roles.READER)), List.of(newToken(Roles.OPERATOR)));
        Path tmp = Files.createTempFile(dir, ".tokens", ".tmp", PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        try {
            Files.writeString(
                    tmp,
                    "# selfsup access tokens, made " + Instant.now() + ". Keep this file private.\n"
                            + "# reader: read-only calls. operator: every call. Several tokens per role: comma-separated.\n"
                            + Roles.READER + "=" + fresh.reader().get(0) + "\n"
                            + Roles.OPERATOR + "=" + fresh.operator().get(0) + "\n",
                    StandardCharsets.UTF_8);
            try {
                // link(2) fails if the name exists: of services starting together, exactly one wins.
                Files.createLink(file, tmp);
                return new Created(fresh, true);
            } catch (FileAlreadyExistsException another) {
                return new Created(read(file), false);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** What {@link #readOrCreate} found or made. */
    public record Created(Tokens tokens, boolean created) {}

    /** True if anyone but the owner may read or write the file. */
    public static boolean openToOthers(Path file) throws IOException {
        Set<PosixFilePermission> p = Files.getPosixFilePermissions(file);
        return p.contains(PosixFilePermission.GROUP_READ)
                || p.contains(PosixFilePermission.GROUP_WRITE)
                || p.contains(PosixFilePermission.OTHERS_READ)
                || p.contains(PosixFilePermission.OTHERS_WRITE);
    }
}
