package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The batcher's mechanics, with a batch function that doubles its input and records batch sizes. */
class DynamicBatcherTest {
    private final List<Integer> batches = new CopyOnWriteArrayList<>();

    private float[] doubled(float[] x, int n) {
        batches.add(n);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = 2 * x[i];
        }
        return out;
    }

    @Test
    void mergesConcurrentRequestsIntoOneBatchAndSplitsTheAnswers() throws Exception {
        // A long delay, so the eight requests below certainly meet in one batch.
        DynamicBatcher b = new DynamicBatcher(
                "t",
                this::doubled,
                1,
                1,
                new DynamicBatcher.Config(8, TimeUnit.SECONDS.toNanos(5), 64, 1),
                new DynamicBatcher.Observer() {},
                () -> {});
        List<CompletableFuture<float[]>> fs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            fs.add(b.submit(new float[] {i}, 1, () -> false));
        }
        for (int i = 0; i < 8; i++) {
            assertArrayEquals(new float[] {2 * i}, fs.get(i).get(5, TimeUnit.SECONDS));
        }
        assertEquals(List.of(8), batches, "a full batch runs at once, without waiting out the delay");
        b.close();
    }

    @Test
    void aLoneRequestWaitsAtMostTheDelayAndABigOneRunsAlone() throws Exception {
        DynamicBatcher b = new DynamicBatcher(
                "t",
                this::doubled,
                2,
                2,
                new DynamicBatcher.Config(4, TimeUnit.MILLISECONDS.toNanos(20), 64, 1),
                new DynamicBatcher.Observer() {},
                () -> {});
        long t0 = System.nanoTime();
        assertArrayEquals(
                new float[] {2, 4}, b.submit(new float[] {1, 2}, 1, () -> false).get(5, TimeUnit.SECONDS));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(2));
        float[] big = new float[20];
        assertEquals(20, b.submit(big, 10, () -> false).get(5, TimeUnit.SECONDS).length);
        assertEquals(List.of(1, 10), batches);
        b.close();
    }

    @Test
    void aFullQueueRefusesAtOnceAndAbandonedRequestsAreNotComputed() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch running = new CountDownLatch(1);
        DynamicBatcher b = new DynamicBatcher(
                "t",
                (x, n) -> {
                    running.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return doubled(x, n);
                },
                1,
                1,
                new DynamicBatcher.Config(4, 0, 8, 1),
                new DynamicBatcher.Observer() {},
                () -> {});
        CompletableFuture<float[]> first = b.submit(new float[4], 4, () -> false);
        running.await(5, TimeUnit.SECONDS);
        AtomicBoolean gaveUp = new AtomicBoolean();
        CompletableFuture<float[]> abandoned = b.submit(new float[4], 4, gaveUp::get);
        CompletableFuture<float[]> kept = b.submit(new float[4], 4, () -> false);
        assertThrows(DynamicBatcher.QueueFullException.class, () -> b.submit(new float[1], 1, () -> false));
        gaveUp.set(true);
        release.countDown();
        first.get(5, TimeUnit.SECONDS);
        kept.get(5, TimeUnit.SECONDS);
        ExecutionException e = assertThrows(ExecutionException.class, () -> abandoned.get(5, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof DynamicBatcher.AbandonedException);
        assertEquals(List.of(4, 4), batches, "the abandoned request was never computed");
        b.close();
    }

    /**
     * The byte budget is shared by every batcher: waiting pixels of two models together stay within it, a request
     * that does not fit is refused with the setting to change, and the bytes come back when the batch runs.
     */
    @Test
    void waitingPixelsOfAllModelsStayWithinOneByteBudget() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch running = new CountDownLatch(2);
        DynamicBatcher.BatchFunction blocked = (x, n) -> {
            running.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return doubled(x, n);
        };
        // 100 floats per image: 400 bytes. The budget holds 5 waiting images, whichever model they are for.
        DynamicBatcher.QueueBudget budget = new DynamicBatcher.QueueBudget(2_000);
        DynamicBatcher.Config config = new DynamicBatcher.Config(1, 0, 64, 1, budget);
        DynamicBatcher a =
                new DynamicBatcher("a:1", blocked, 100, 100, config, new DynamicBatcher.Observer() {}, () -> {});
        DynamicBatcher b =
                new DynamicBatcher("b:1", blocked, 100, 100, config, new DynamicBatcher.Observer() {}, () -> {});
        List<CompletableFuture<float[]>> answers = new ArrayList<>();
        answers.add(a.submit(new float[100], 1, () -> false)); // runs at once on a's worker, and blocks
        answers.add(b.submit(new float[100], 1, () -> false)); // the same on b's
        assertTrue(running.await(5, TimeUnit.SECONDS));
        assertEquals(0, budget.used(), "running batches hold no queue bytes");
        answers.add(a.submit(new float[300], 3, () -> false));
        answers.add(b.submit(new float[200], 2, () -> false));
        assertEquals(2_000, budget.used());
        var full =
                assertThrows(DynamicBatcher.QueueFullException.class, () -> b.submit(new float[100], 1, () -> false));
        assertTrue(full.getMessage().contains("selfsup.encoder.max-queue-bytes"), full.getMessage());
        var tooBig =
                assertThrows(DynamicBatcher.QueueFullException.class, () -> a.submit(new float[600], 6, () -> false));
        assertTrue(tooBig.getMessage().contains("in smaller requests"), tooBig.getMessage());
        release.countDown();
        for (CompletableFuture<float[]> f : answers) {
            f.get(5, TimeUnit.SECONDS);
        }
        assertEquals(0, budget.used(), "every byte came back");
        answers.clear();
        answers.add(b.submit(new float[500], 5, () -> false));
        answers.get(0).get(5, TimeUnit.SECONDS);
        a.close();
        b.close();
    }

    @Test
    void closingFinishesWhatIsQueuedThenStops() throws Exception {
        AtomicBoolean stopped = new AtomicBoolean();
        DynamicBatcher b = new DynamicBatcher(
                "t",
                this::doubled,
                1,
                1,
                new DynamicBatcher.Config(2, TimeUnit.MILLISECONDS.toNanos(50), 64, 1),
                new DynamicBatcher.Observer() {},
                () -> stopped.set(true));
        List<CompletableFuture<float[]>> fs = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            fs.add(b.submit(new float[] {i}, 1, () -> false));
        }
        b.close();
        assertThrows(DynamicBatcher.ClosedException.class, () -> b.submit(new float[1], 1, () -> false));
        assertTrue(b.awaitStopped(5, TimeUnit.SECONDS));
        for (int i = 0; i < 5; i++) {
            assertArrayEquals(new float[] {2 * i}, fs.get(i).get());
        }
        assertTrue(stopped.get());
        assertEquals(5, batches.stream().mapToInt(Integer::intValue).sum());
    }

    @Test
    void workersRunBatchesAtTheSameTimeAndTheLastOneOutStops() throws Exception {
        // Each batch waits until two batches are running: this passes only if two workers compute at once.
        CountDownLatch bothRunning = new CountDownLatch(2);
        AtomicInteger stops = new AtomicInteger();
        Set<String> threads = ConcurrentHashMap.newKeySet();
        DynamicBatcher b = new DynamicBatcher(
                "t",
                (x, n) -> {
                    threads.add(Thread.currentThread().getName());
                    bothRunning.countDown();
                    try {
                        assertTrue(bothRunning.await(5, TimeUnit.SECONDS), "the other worker never started a batch");
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return doubled(x, n);
                },
                1,
                1,
                new DynamicBatcher.Config(2, 0, 64, 2),
                new DynamicBatcher.Observer() {},
                stops::incrementAndGet);
        List<CompletableFuture<float[]>> fs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            fs.add(b.submit(new float[] {i}, 1, () -> false));
        }
        for (int i = 0; i < 4; i++) {
            assertArrayEquals(new float[] {2 * i}, fs.get(i).get(5, TimeUnit.SECONDS));
        }
        assertEquals(2, threads.size(), "two worker threads ran batches: " + threads);
        b.close();
        assertTrue(b.awaitStopped(5, TimeUnit.SECONDS));
        assertEquals(1, stops.get(), "onStop runs once, after the last worker");
    }
}
