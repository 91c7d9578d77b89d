package dev.selfsup.encoder;

import dev.selfsup.core.engine.EngineThreads;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Merges concurrent requests for one model version into device batches, as Triton's and TorchServe's dynamic
 * batchers do. Each of {@code workers} threads (Triton's model instances) takes the oldest request, waits up to
 * {@code maxDelayNanos} for more to fill {@code maxBatch} images (no wait when the queue already holds a full
 * batch), runs them together and splits the result; the workers run their batches at the same time. The queue
 * holds at most {@code maxQueueImages} images, and all batchers of a process together at most the bytes of their
 * {@link QueueBudget} (a 224 px colour image is 600 KB of floats, a 28 px grey one 3 KB: a count of images alone
 * does not bound memory); past either a request is refused at once ({@link QueueFullException}) rather than running
 * the process out of memory later.
 */
public final class DynamicBatcher implements AutoCloseable {
    /**
     * How requests are batched.
     *
     * @param maxBatch images per batch (a larger single request runs alone; the function splits it)
     * @param maxDelayNanos how long the oldest queued request may wait for its batch to fill
     * @param maxQueueImages images that may wait; past this a request is refused
     * @param workers batches that run at once, each on its own thread
     * @param queueBytes the bytes of waiting pixels shared by every batcher of the process
     */
    public record Config(int maxBatch, long maxDelayNanos, int maxQueueImages, int workers, QueueBudget queueBytes) {
        public Config {
            if (maxBatch < 1 || maxQueueImages < maxBatch || maxDelayNanos < 0 || workers < 1) {
                throw new IllegalArgumentException("need 1 <= maxBatch <= maxQueueImages, maxDelay >= 0 and "
                        + "workers >= 1, got " + maxBatch + ", " + maxQueueImages + ", " + maxDelayNanos + ", "
                        + workers);
            }
        }

        /** A config whose queue is bounded in images only (tests). */
        public Config(int maxBatch, long maxDelayNanos, int maxQueueImages, int workers) {
            this(maxBatch, maxDelayNanos, maxQueueImages, workers, new QueueBudget(Long.MAX_VALUE));
        }
    }

    /** The bytes of pixels all batchers of a process may hold waiting, together ({@code max-queue-bytes}). */
    public static final class QueueBudget {
        private final long limit;
        private long used;

        public QueueBudget(long limit) {
            if (limit <= 0) {
                throw new IllegalArgumentException("the queue's byte limit must be positive, got " + limit);
            }
            this.limit = limit;
        }

        /** The limit, in bytes. */
        public long limit() {
            return limit;
        }

        /** The bytes waiting now. */
        public synchronized long used() {
            return used;
        }

        synchronized boolean take(long bytes) {
            if (bytes > limit - used) {
                return false;
            }
            used += bytes;
            return true;
        }

        synchronized void release(long bytes) {
            used -= bytes;
        }
    }

    /**
     * Computes embeddings: {@code n} images of {@code imageFloats} values each in, {@code n * dim} values out.
     * With several workers it is called from several threads at once.
     */
    @FunctionalInterface
    public interface BatchFunction {
        float[] embed(float[] pixels, int n);
    }

    /** Observes batching, for metrics. */
    public interface Observer {
        default void batchRun(int images, long computeNanos) {}

        default void queueWait(long nanos) {}

        default void queueDepth(int images) {}

        default void skipped(int images) {}
    }

    /** The queue is full; the caller should answer RESOURCE_EXHAUSTED. */
    public static final class QueueFullException extends RuntimeException {
        QueueFullException(String message) {
            super(message, null, false, false);
        }
    }

    /** The batcher is closed (its model version was replaced or unloaded); the caller may resolve again. */
    public static final class ClosedException extends RuntimeException {
        ClosedException(String message) {
            super(message, null, false, false);
        }
    }

    /** A request that was not computed because its caller gave up (deadline passed or call cancelled). */
    public static final class AbandonedException extends RuntimeException {
        AbandonedException(String message) {
            super(message, null, false, false);
        }
    }

    private record Pending(
            float[] pixels, int n, BooleanSupplier abandoned, long enqueuedAt, CompletableFuture<float[]> result) {}

    private final String name;
    private final BatchFunction function;
    private final int imageFloats;
    private final int dim;
    private final int maxBatch;
    private final long maxDelayNanos;
    private final int maxQueueImages;
    private final QueueBudget queueBytes;
    private final Observer observer;
    private final Runnable onStop;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private final List<Thread> workers = new ArrayList<>();
    private final AtomicInteger running = new AtomicInteger();
    private int queuedImages;
    private boolean closed;

    /**
     * @param name names the worker thread and messages, e.g. "fashion:3"
     * @param imageFloats values per image (C * H * W)
     * @param dim values per embedding
     * @param onStop runs once, on the last worker thread to stop, after the last queued request: e.g. to free
     *     the model
     */
    public DynamicBatcher(
            String name,
            BatchFunction function,
            int imageFloats,
            int dim,
            Config config,
            Observer observer,
            Runnable onStop) {
        this.name = name;
        this.function = function;
        this.imageFloats = imageFloats;
        this.dim = dim;
        this.maxBatch = config.maxBatch();
        this.maxDelayNanos = config.maxDelayNanos();
        this.maxQueueImages = config.maxQueueImages();
        this.queueBytes = config.queueBytes();
        this.observer = observer;
        this.onStop = onStop;
        running.set(config.workers());
        for (int i = 0; i < config.workers(); i++) {
            workers.add(EngineThreads.newThread("batcher-" + name + "-" + i, this::run));
        }
        workers.forEach(Thread::start);
    }

    /**
     * Queues {@code n} images ({@code n * imageFloats} values). The future completes with {@code n * dim} values,
     * or exceptionally with {@link AbandonedException} or the batch function's error.
     *
     * @param abandoned true once the caller no longer wants the answer; checked just before the batch runs
     */
    public CompletableFuture<float[]> submit(float[] pixels, int n, BooleanSupplier abandoned) {
        if (n < 1 || pixels.length != n * imageFloats) {
            throw new IllegalArgumentException("expected " + n + " x " + imageFloats + " values, got " + pixels.length);
        }
        CompletableFuture<float[]> result = new CompletableFuture<>();
        lock.lock();
        try {
            if (closed) {
                throw new ClosedException(name + " is no longer served");
            }
            if (queuedImages + n > maxQueueImages) {
                throw new QueueFullException(name + ": the queue holds " + queuedImages + " images (limit "
                        + maxQueueImages + "); retry with backoff");
            }
            long bytes = (long) pixels.length * Float.BYTES;
            if (!queueBytes.take(bytes)) {
                throw new QueueFullException(name + ": waiting requests hold " + (queueBytes.used() >> 20)
                        + " MiB of pixels and this one " + Math.max(1, bytes >> 20) + " MiB (limit "
                        + (queueBytes.limit() >> 20) + " MiB for all models, selfsup.encoder.max-queue-bytes); "
                        + "retry with backoff" + (bytes > queueBytes.limit() ? ", in smaller requests" : ""));
            }
            boolean wasEmpty = queue.isEmpty();
            queue.add(new Pending(pixels, n, abandoned, System.nanoTime(), result));
            queuedImages += n;
            observer.queueDepth(queuedImages);
            // Wake a worker only when it has something new to decide: a first request to wait on, or a full
            // batch. Otherwise a worker waiting out the delay would wake for every request.
            if (wasEmpty || queuedImages - n < maxBatch && queuedImages >= maxBatch) {
                changed.signal();
            }
        } finally {
            lock.unlock();
        }
        return result;
    }

    /** Images waiting to run. */
    public int queuedImages() {
        lock.lock();
        try {
            return queuedImages;
        } finally {
            lock.unlock();
        }
    }

    /** Refuses new requests; those queued still run, then {@code onStop} runs. Does not wait. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Waits for the workers to finish the queue and stop. */
    public boolean awaitStopped(long timeout, TimeUnit unit) throws InterruptedException {
        long until = System.nanoTime() + unit.toNanos(timeout);
        for (Thread t : workers) {
            long left = until - System.nanoTime();
            if (left > 0) {
                TimeUnit.NANOSECONDS.timedJoin(t, left);
            }
        }
        return workers.stream().noneMatch(Thread::isAlive);
    }

    private void run() {
        try {
            List<Pending> batch;
            while ((batch = nextBatch()) != null) {
                runBatch(batch);
            }
        } finally {
            if (running.decrementAndGet() == 0) {
                onStop.run();
            }
        }
    }

    /** Blocks for the next batch; null once closed and drained. */
    private List<Pending> nextBatch() {
        lock.lock();
        try {
            // Another worker may take the requests this one waits on: look at the queue afresh after each wait.
            while (true) {
                while (queue.isEmpty()) {
                    if (closed) {
                        return null;
                    }
                    changed.awaitUninterruptibly();
                }
                long left = queue.peek().enqueuedAt + maxDelayNanos - System.nanoTime();
                if (queuedImages >= maxBatch || closed || left <= 0) {
                    break;
                }
                try {
                    changed.awaitNanos(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            List<Pending> batch = new ArrayList<>();
            int images = 0;
            // Whole requests only; a request larger than maxBatch runs alone (the function splits it).
            while (!queue.isEmpty() && (images == 0 || images + queue.peek().n <= maxBatch)) {
                Pending p = queue.poll();
                queueBytes.release((long) p.pixels.length * Float.BYTES);
                batch.add(p);
                images += p.n;
                queuedImages -= p.n;
            }
            observer.queueDepth(queuedImages);
            if (!queue.isEmpty()) {
                changed.signal(); // what is left is for an idle worker
            }
            return batch;
        } finally {
            lock.unlock();
        }
    }

    private void runBatch(List<Pending> batch) {
        long start = System.nanoTime();
        List<Pending> live = new ArrayList<>(batch.size());
        int images = 0;
        for (Pending p : batch) {
            observer.queueWait(start - p.enqueuedAt);
            if (p.abandoned.getAsBoolean()) {
                observer.skipped(p.n);
                p.result.completeExceptionally(new AbandonedException(
                        "deadline passed or call cancelled before " + "the batch ran; not computed"));
            } else {
                live.add(p);
                images += p.n;
            }
        }
        if (live.isEmpty()) {
            return;
        }
        float[] in;
        if (live.size() == 1) {
            in = live.get(0).pixels;
        } else {
            in = new float[images * imageFloats];
            int at = 0;
            for (Pending p : live) {
                System.arraycopy(p.pixels, 0, in, at, p.pixels.length);
                at += p.pixels.length;
            }
        }
        float[] out;
        try {
            out = function.embed(in, images);
        } catch (RuntimeException | Error e) {
            for (Pending p : live) {
                p.result.completeExceptionally(e);
            }
            return;
        }
        observer.batchRun(images, System.nanoTime() - start);
        if (live.size() == 1) {
            live.get(0).result.complete(out);
            return;
        }
        int at = 0;
        for (Pending p : live) {
            float[] mine = new float[p.n * dim];
            System.arraycopy(out, at, mine, 0, mine.length);
            at += mine.length;
            p.result.complete(mine);
        }
    }
}
