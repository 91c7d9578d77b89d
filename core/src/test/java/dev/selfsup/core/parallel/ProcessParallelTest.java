package dev.selfsup.core.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.engine.GradMode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ProcessParallel}'s gradient rules with two real Gloo ranks in one JVM (one thread each): a parameter used
 * in the split forward pass gets the sum of the ranks' gradients, one used only after the gather (a head on the
 * gathered output) the mean, both equal to one process's gradient over the whole batch; a parameter used both ways
 * is refused.
 */
class ProcessParallelTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gloo() {
        GlooForTests.require();
    }

    private static final float[] X = new float[8 * 4];

    static {
        for (int i = 0; i < X.length; i++) {
            X[i] = (float) Math.sin(i * 0.7) + (i % 3) * 0.25f;
        }
    }

    /** An encoder and a head with the same weights in every call. */
    private static Block[] model(NDManager m) {
        Block encoder = Linear.builder().setUnits(3).build();
        Block head = Linear.builder().setUnits(2).build();
        encoder.initialize(m, DataType.FLOAT32, new Shape(8, 4));
        head.initialize(m, DataType.FLOAT32, new Shape(8, 3));
        int k = 0;
        for (Block b : new Block[] {encoder, head}) {
            for (var p : b.getParameters()) {
                NDArray a = p.getValue().getArray();
                float[] v = new float[Math.toIntExact(a.size())];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) Math.cos(++k * 1.3) * 0.5f;
                }
                a.set(new NDIndex(":"), m.create(v, a.getShape()));
            }
        }
        return new Block[] {encoder, head};
    }

    /**
     * The backward pass of one rank's thread. DJL allows one gradient collector per process, and two ranks here
     * share one: each thread records its own graph (grad mode is per thread) and runs libtorch's backward itself.
     */
    private static void backward(NDArray loss) {
        GradMode.disableOnThisThread();
        try (NDArray ones = loss.onesLike()) {
            JniUtils.backward((PtNDArray) loss, (PtNDArray) ones, false, false);
        }
    }

    /** A loss that mixes every row of the batch, as contrastive losses do. */
    private static NDArray loss(NDArray out) {
        NDArray centred = out.sub(out.mean(new int[] {0}, true));
        return centred.square().sum().add(out.sum().square().mul(0.1f));
    }

    private static List<float[]> gradients(Block... blocks) {
        List<float[]> g = new ArrayList<>();
        for (Block b : blocks) {
            for (var p : b.getParameters()) {
                g.add(p.getValue().getArray().getGradient().toFloatArray());
            }
        }
        return g;
    }

    /** Runs {@code task(rank)} for two ranks joined through Gloo, one thread each. */
    private <T> List<T> twoRanks(String attempt, RankTask<T> task) throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r;
                Callable<T> c = () -> {
                    GradMode.disableOnThisThread();
                    try (GlooCollective g = GlooCollective.connect(
                                    Rendezvous.folder(dir, attempt),
                                    rank,
                                    2,
                                    "127.0.0.1",
                                    Duration.ofSeconds(30),
                                    Duration.ofSeconds(10));
                            NDManager m = NDManager.newBaseManager()) {
                        return task.run(new ProcessParallel(g, m), m);
                    }
                };
                futures.add(threads.submit(c));
            }
            List<T> out = new ArrayList<>();
            Exception first = null;
            for (Future<T> f : futures) {
                try {
                    out.add(f.get());
                } catch (java.util.concurrent.ExecutionException e) {
                    // The rank that failed first, not the other one losing its peer because of it.
                    if (first == null || first.getCause() instanceof CollectiveException) {
                        first = e;
                    }
                }
            }
            if (first != null) {
                throw first;
            }
            return out;
        } finally {
            threads.shutdownNow();
        }
    }

    interface RankTask<T> {
        T run(ProcessParallel pp, NDManager m) throws Exception;
    }

    @Test
    void splitParametersGetTheSumAndHeadParametersTheMean() throws Exception {
        List<float[]> expected;
        GradMode.disableOnThisThread();
        try (NDManager m = NDManager.newBaseManager()) {
            Block[] b = model(m);
            ParameterStore ps = new ParameterStore(m, false);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray z = b[0].forward(ps, new NDList(m.create(X, new Shape(8, 4))), true)
                        .singletonOrThrow();
                NDArray out = b[1].forward(ps, new NDList(z), true).singletonOrThrow();
                gc.backward(loss(out));
            }
            GradMode.disableOnThisThread();
            expected = gradients(b);
        }
        List<List<float[]>> ranks = twoRanks("sum-and-mean", (pp, m) -> {
            Block[] b = model(m);
            GradMode.setOnThisThread(true);
            NDArray z = pp.forward(b[0], pp.parameters(), m.create(X, new Shape(8, 4)));
            NDArray out = b[1].forward(pp.parameters(), new NDList(z), true).singletonOrThrow();
            backward(loss(out));
            pp.reduceGradients();
            return gradients(b);
        });
        for (List<float[]> got : ranks) {
            for (int i = 0; i < expected.size(); i++) {
                assertArrayEquals(expected.get(i), got.get(i), 1e-5f, "gradient of array " + i);
            }
        }
        assertTrue(expected.get(0).length > 0);
    }

    @Test
    void aParameterUsedInsideAndAfterTheSplitIsRefused() throws Exception {
        List<String> messages = twoRanks("both", (pp, m) -> {
            Block[] b = model(m);
            GradMode.setOnThisThread(true);
            NDArray x = m.create(X, new Shape(8, 4));
            NDArray z = pp.forward(b[0], pp.parameters(), x);
            NDArray again = b[0].forward(pp.parameters(), new NDList(x), true).singletonOrThrow();
            backward(loss(z.add(again)));
            return assertThrows(IllegalStateException.class, pp::reduceGradients)
                    .getMessage();
        });
        messages.forEach(msg -> assertTrue(msg.contains("both in the split forward pass and after it"), msg));
    }
}
