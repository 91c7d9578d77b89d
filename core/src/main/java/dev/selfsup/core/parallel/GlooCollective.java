package dev.selfsup.core.parallel;

import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * {@link Collective} over Gloo, PyTorch's CPU collectives library, through a small JNI shim: ranks rendezvous
 * through a {@link Rendezvous} store, then connect to each other over TCP (a full mesh). An operation that a peer
 * cannot complete (it died: its sockets close at once; it hangs: the timeout) throws {@link CollectiveException}
 * on every other rank, so no rank waits forever.
 */
public final class GlooCollective implements Collective {
    private final int rank;
    private final int size;
    private long handle;
    private long bytes;
    private long nanos;

    private GlooCollective(int rank, int size, long handle) {
        this.rank = rank;
        this.size = size;
        this.handle = handle;
    }

    /**
     * Loads the shim and says whether worker processes can run here (a container image runs it when it is built,
     * which also unpacks the shim into {@code SELFSUP_NATIVE_DIR}). Exits 0 either way: a base without Gloo is a
     * valid image whose trainer refuses runs with workers.
     */
    public static void main(String[] args) {
        System.out.println(available() ? "gloo: worker processes available" : "gloo: " + unavailableReason());
    }

    /** Whether the shim is in this build and loads here. */
    public static boolean available() {
        return GlooNative.problem() == null;
    }

    /** Null when {@link #available}; else why not, in words a person can act on. */
    public static String unavailableReason() {
        return GlooNative.problem();
    }

    /**
     * Joins the group: returns once all {@code size} ranks have met in the store and connected.
     *
     * @param hostname the address the other ranks reach this one at (an interface's IP, or a name that resolves to
     *     it; "127.0.0.1" on one host)
     * @param connectTimeout how long to wait for every rank to arrive
     * @param timeout how long any later operation may wait for a peer
     * @throws CollectiveException if the ranks do not all arrive in time or cannot connect
     */
    public static GlooCollective connect(
            Rendezvous store, int rank, int size, String hostname, Duration connectTimeout, Duration timeout) {
        if (!available()) {
            throw new CollectiveException(unavailableReason());
        }
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is not in a group of " + size);
        }
        if ("file".equals(store.kind())) {
            try {
                // Gloo's file store resolves its folder's real path, so the folder must exist first.
                java.nio.file.Files.createDirectories(java.nio.file.Path.of(store.address()));
            } catch (java.io.IOException e) {
                throw new CollectiveException(
                        "rendezvous folder " + store.address() + " cannot be made: " + e.getMessage());
            }
        }
        long h = GlooNative.connect(
                rank,
                size,
                store.kind(),
                store.address(),
                store.port(),
                store.prefix(),
                hostname,
                connectTimeout.toMillis(),
                timeout.toMillis());
        return new GlooCollective(rank, size, h);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public synchronized void allReduceSum(ByteBuffer buffer, int floats) {
        long t0 = System.nanoTime();
        GlooNative.allReduceSum(open(), buffer, floats);
        account(t0, 4L * floats);
    }

    @Override
    public synchronized void allGather(ByteBuffer in, ByteBuffer out, long n) {
        long t0 = System.nanoTime();
        GlooNative.allGather(open(), in, out, n);
        account(t0, n);
    }

    @Override
    public synchronized void broadcast(ByteBuffer buffer, long n, int root) {
        long t0 = System.nanoTime();
        GlooNative.broadcast(open(), buffer, n, root);
        account(t0, n);
    }

    @Override
    public synchronized void barrier() {
        long t0 = System.nanoTime();
        GlooNative.barrier(open());
        account(t0, 0);
    }

    @Override
    public synchronized long bytes() {
        return bytes;
    }

    @Override
    public synchronized long nanos() {
        return nanos;
    }

    private long open() {
        if (handle == 0) {
            throw new CollectiveException("the worker group is closed");
        }
        return handle;
    }

    private void account(long t0, long n) {
        nanos += System.nanoTime() - t0;
        bytes += n;
    }

    @Override
    public synchronized void close() {
        if (handle != 0) {
            GlooNative.close(handle);
            handle = 0;
        }
    }
}
