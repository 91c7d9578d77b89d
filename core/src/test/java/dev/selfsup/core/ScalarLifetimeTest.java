package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.train.PretrainConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Training computes the same numbers while the garbage collector frees Java memory and the process reuses it.
 *
 * <p>DJL 0.29 keeps an array made from Java data (a plain number in {@code mul(Number)}, {@code div(Number)}, ...
 * among them) in a Java direct buffer; the engine's backward pass may read such an array after DJL has let go of
 * the buffer. The "poison" here collects garbage and fills fresh direct buffers with NaN, so freed memory that is
 * still read turns into NaN or wrong values. The first test shows the poison catching DJL's own scalar; the others
 * show that {@link Scalars} and every method's training step, on one device and over replicas, are immune.
 */
class ScalarLifetimeTest {
    /** Collects garbage, then allocates small direct buffers full of NaN, where freed buffers were. */
    private static void poisonOnce() {
        System.gc();
        List<ByteBuffer> keep = new ArrayList<>();
        for (int i = 0; i < 3000; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(4 << (i % 3)).order(ByteOrder.nativeOrder());
            for (int k = 0; k + 4 <= b.capacity(); k += 4) {
                b.putFloat(k, Float.NaN);
            }
            keep.add(b);
        }
    }

    /** Poisons freed memory over and over on a background thread until closed. */
    private static final class Poison implements AutoCloseable {
        private volatile boolean running = true;
        private final Thread thread = new Thread(
                () -> {
                    while (running) {
                        poisonOnce();
                    }
                },
                "poison");

        Poison() {
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join();
        }
    }

    /** How many of {@code rounds} gradients of sum(x op 3) are wrong when memory is poisoned before backward. */
    private static int wrongGradients(Function<NDArray, NDArray> divideByThree, int rounds) {
        int wrong = 0;
        try (NDManager m = NDManager.newBaseManager()) {
            for (int round = 0; round < rounds; round++) {
                try (NDManager step = m.newSubManager()) {
                    NDArray x = step.ones(new Shape(4));
                    x.setRequiresGradient(true);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray y = divideByThree.apply(x).sum();
                        poisonOnce();
                        gc.backward(y);
                    }
                    float g = x.getGradient().toFloatArray()[0];
                    if (Math.abs(g - 1f / 3) > 1e-7f) {
                        wrong++;
                    }
                }
            }
        }
        return wrong;
    }

    /**
     * The background poison that the training tests run under reaches a window between a forward and its backward
     * pass as short as a training step's: DJL's own div(Number) goes wrong under it. Without this, those tests could
     * pass because the poison never landed in time.
     */
    @Test
    void theBackgroundPoisonReachesAStepsWindow() throws Exception {
        int wrong = 0;
        try (Poison poison = new Poison();
                NDManager m = NDManager.newBaseManager()) {
            for (int round = 0; round < 200 && wrong == 0; round++) {
                try (NDManager step = m.newSubManager()) {
                    NDArray x = step.ones(new Shape(4));
                    x.setRequiresGradient(true);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray y = x.div(3f).sum();
                        Thread.sleep(5); // about the forward pass of a test step
                        gc.backward(y);
                    }
                    if (Math.abs(x.getGradient().toFloatArray()[0] - 1f / 3) > 1e-7f) {
                        wrong++;
                    }
                }
            }
        }
        assertTrue(wrong > 0, "the background poison never reached a 5 ms window in 200 rounds");
    }

    @Test
    void thePoisonCatchesDjlsScalarBeingReadAfterItIsFreed() {
        // If this starts to fail, DJL keeps its scalars alive now (or this machine never reuses the memory): the
        // tests below then prove nothing new, and Scalars may be retired on a DJL that fixed it.
        int wrong = wrongGradients(x -> x.div(3f), 20);
        assertTrue(wrong > 0, "DJL's div(Number) gave a wrong gradient in " + wrong + " of 20 poisoned rounds");
    }

    @Test
    void scalarsKeepTheirNumberForTheBackwardPass() {
        assertEquals(0, wrongGradients(x -> Scalars.div(x, 3f), 20));
        assertEquals(0, wrongGradients(x -> Scalars.mul(x, 1 / 3f), 20));
    }

    static Stream<String> methods() {
        return Methods.NAMES.stream();
    }

    private static DataParallelTest.Outcome train(String method, int replicas, boolean poisoned) throws Exception {
        ImageDataset data = PretrainerTest.dataFor(method);
        PretrainConfig c = PretrainerTest.config(method, null).toBuilder()
                .steps(6)
                .logEverySteps(1)
                .replicas(replicas)
                .build();
        try (NDManager tokenizers = NDManager.newBaseManager();
                Poison poison = poisoned ? new Poison() : null) {
            return DataParallelTest.train(c, data, PretrainerTest.resourcesFor(data, tokenizers));
        }
    }

    private static void assertSame(DataParallelTest.Outcome clean, DataParallelTest.Outcome poisoned, String what) {
        assertEquals(clean.losses(), poisoned.losses(), what + ": losses");
        for (int i = 0; i < clean.params().size(); i++) {
            assertArrayEquals(clean.params().get(i), poisoned.params().get(i), what + ": array " + i);
        }
    }

    @ParameterizedTest
    @MethodSource("methods")
    void everyMethodTrainsTheSameWhileFreedMemoryIsReused(String method) throws Exception {
        assertSame(train(method, 1, false), train(method, 1, true), method);
        if (Methods.dataParallelNames().contains(method)) {
            assertSame(train(method, 2, false), train(method, 2, true), method + " over 2 replicas");
        }
    }
}
