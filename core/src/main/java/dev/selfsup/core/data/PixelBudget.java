package dev.selfsup.core.data;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Bounds the pixels being decoded at once across all threads of a process, so that many large images arriving
 * together cannot take the heap: a decode waits for room, and gives up after a while rather than pile up.
 */
public final class PixelBudget {
    /** No bound beyond the per-image limit. */
    public static final PixelBudget UNLIMITED = new PixelBudget(0);

    /** Thrown when room did not come in time: the caller should try again later. */
    public static final class BusyException extends RuntimeException {
        BusyException(String message) {
            super(message);
        }
    }

    /** Room taken for one decode; closing gives it back. */
    public interface Lease extends AutoCloseable {
        @Override
        void close();
    }

    private static final int PIXELS_PER_PERMIT = 1024;
    private final Semaphore permits;
    private final int capacity;
    private final long waitMillis;

    /** @param pixels the most pixels decoded at once, or 0 for no bound */
    public PixelBudget(long pixels) {
        this(pixels, 10_000);
    }

    /**
     * @param pixels the most pixels decoded at once, or 0 for no bound
     * @param waitMillis how long a decode waits for room
     */
    public PixelBudget(long pixels, long waitMillis) {
        this.capacity = pixels <= 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, Math.max(1, pixels / PIXELS_PER_PERMIT));
        this.permits = capacity == 0 ? null : new Semaphore(capacity, true);
        this.waitMillis = waitMillis;
    }

    /**
     * Takes room for {@code pixels}; an image larger than the whole budget takes all of it.
     *
     * @throws BusyException if the room did not come within the wait
     */
    public Lease acquire(long pixels) {
        if (permits == null) {
            return () -> {};
        }
        int n = (int) Math.min(capacity, Math.max(1, (pixels + PIXELS_PER_PERMIT - 1) / PIXELS_PER_PERMIT));
        try {
            if (!permits.tryAcquire(n, waitMillis, TimeUnit.MILLISECONDS)) {
                throw new BusyException("the server is decoding too many large images at once; try again shortly");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BusyException("interrupted while waiting to decode");
        }
        return () -> permits.release(n);
    }
}
