package dev.selfsup.core.parallel;

import java.net.URI;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Where worker processes find each other: a folder every rank can reach (one host, or a shared volume) or a Redis
 * server, and a prefix that keeps one attempt's keys apart from every other's in the same store.
 *
 * @param kind "file" or "redis"
 * @param address the folder, or Redis's host
 * @param port Redis's port (0 for a folder)
 * @param prefix this attempt's keys: the run and its attempt, so a resumed run never reads a dead attempt's addresses
 */
public record Rendezvous(String kind, String address, int port, String prefix) {
    /** @throws IllegalArgumentException for an unknown kind or an empty address or prefix */
    public Rendezvous {
        if (!"file".equals(kind) && !"redis".equals(kind)) {
            throw new IllegalArgumentException(
                    "rendezvous store must be file:<folder> or redis://host:port, got " + kind);
        }
        if (address == null || address.isBlank()) {
            throw new IllegalArgumentException("rendezvous store: no address");
        }
        if (prefix == null || prefix.isBlank()) {
            throw new IllegalArgumentException("rendezvous store: no prefix");
        }
    }

    /** A folder every rank can reach. */
    public static Rendezvous folder(Path dir, String prefix) {
        return new Rendezvous("file", dir.toAbsolutePath().toString(), 0, prefix);
    }

    /**
     * Parses {@code redis://host[:port]} or {@code file:/folder} (a bare path is a folder).
     *
     * @throws IllegalArgumentException when it is neither
     */
    public static Rendezvous parse(String store, String prefix) {
        String s = store.trim();
        if (s.toLowerCase(Locale.ROOT).startsWith("redis://")) {
            URI u = URI.create(s);
            if (u.getHost() == null) {
                throw new IllegalArgumentException("rendezvous store: no host in " + s);
            }
            return new Rendezvous("redis", u.getHost(), u.getPort() < 0 ? 6379 : u.getPort(), prefix);
        }
        String path = s.startsWith("file:") ? s.substring("file:".length()) : s;
        return folder(Path.of(path), prefix);
    }

    @Override
    public String toString() {
        return ("redis".equals(kind) ? "redis://" + address + ":" + port : "file:" + address) + " [" + prefix + "]";
    }
}
