package dev.selfsup.core.numerics;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

/**
 * Runs the ops the encoders train with, forward and backward, on the engine and in double precision in Java,
 * and compares them: the engine's results must be within a float32 tolerance of the reference and bit-for-bit
 * the same in two runs. It catches a CPU whose kernels compute wrongly (docs/numerics.md) before a run trains
 * on wrong gradients.
 *
 * <p>The quick suite (a few small shapes of every op, about 0.1 s) runs when a process first uses the engine,
 * through {@link NumericsGuard}; the full suite adds the shapes the small ConvNet, ResNet-18 and the ViT really
 * use (a few seconds) and runs in the tests and in {@code bench/check-cpu}.
 */
public final class NumericsSelfCheck {
    /** Largest accepted difference from the reference, relative to the reference's largest magnitude. */
    static final double TOLERANCE = 1e-4;

    /**
     * The same for the ops bfloat16 autocast computes in bfloat16: inputs rounded to 8 significant bits and sums of
     * hundreds of such products leave errors near 1e-2 of the largest value, where a wrong kernel is off by 1.
     */
    static final double BFLOAT16_TOLERANCE = 3e-2;

    private static final float EPS = 1e-5f;

    /** Which shapes to check. */
    public enum Suite {
        /** Small shapes of every op: for every start of a process. */
        QUICK,
        /** The small shapes and the real layer shapes of the backbones. */
        FULL,
        /**
         * The ops bfloat16 autocast changes (convolutions, linear layers, matrix products) at small and real
         * shapes, each run inside a bfloat16 region against the same float64 reference, with
         * {@link #BFLOAT16_TOLERANCE}.
         */
        BFLOAT16
    }

    /** A deliberate change to a reference value, so that tests can see the check fail. */
    @FunctionalInterface
    public interface ReferenceFault {
        /** Called with each reference output before comparison; may change {@code reference} in place. */
        void apply(String op, String output, double[] reference);
    }

    private NumericsSelfCheck() {}

    /** Runs the suite on the CPU and reports; never throws for a wrong result (the report says it). */
    public static NumericsReport run(Suite suite) {
        return run(suite, (op, output, reference) -> {});
    }

    /** Runs the suite with a fault injected into the references (for tests of the check itself). */
    public static NumericsReport run(Suite suite, ReferenceFault fault) {
        if (suite == Suite.BFLOAT16) {
            throw new IllegalArgumentException("the bfloat16 suite needs its region: run(suite, fault, region)");
        }
        return run(suite, fault, () -> () -> {});
    }

    /** What opens the region the engine's side of each case runs in (a bfloat16 one for that suite). */
    @FunctionalInterface
    public interface Region {
        /** Opens it on the calling thread. */
        AutoCloseable open();
    }

    /**
     * Runs the suite with each case's engine side inside {@code region} (the caller's: this package does not
     * know how precision is switched), with a fault injected into the references.
     */
    public static NumericsReport run(Suite suite, ReferenceFault fault, Region region) {
        CpuIsaGuard.IsaDecision isa = CpuIsaGuard.apply();
        Engine.getInstance();
        long start = System.nanoTime();
        double tolerance = suite == Suite.BFLOAT16 ? BFLOAT16_TOLERANCE : TOLERANCE;
        List<NumericsReport.OpCheck> results = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            List<Case> cases = cases(suite);
            for (int i = 0; i < cases.size(); i++) {
                results.add(check(cases.get(i), 1000L + i, manager, fault, region, tolerance));
            }
        }
        return new NumericsReport(
                CpuInfo.current().describe(),
                isa.describe(),
                suite.name().toLowerCase(),
                List.copyOf(results),
                (System.nanoTime() - start) / 1_000_000);
    }

    // ---- the cases -------------------------------------------------------------------------------------------

    /** How an input is filled. */
    private enum Fill {
        NORMAL,
        POSITIVE,
        ONE_HOT
    }

    private record Input(String name, Shape shape, boolean grad, Fill fill) {
        static Input grad(String name, long... shape) {
            return new Input(name, new Shape(shape), true, Fill.NORMAL);
        }

        static Input fixed(String name, Fill fill, long... shape) {
            return new Input(name, new Shape(shape), false, fill);
        }
    }

    /** The reference: from the inputs (in the order given) and the output gradient, {output, input gradients}. */
    @FunctionalInterface
    private interface Ref {
        double[][] apply(double[][] in, double[] g);
    }

    private record Case(String op, String shape, List<Input> inputs, Function<NDList, NDArray> engine, Ref ref) {}

    static List<String> names(Suite suite) {
        return cases(suite).stream().map(c -> c.op() + " " + c.shape()).toList();
    }

    private static List<Case> cases(Suite suite) {
        List<Case> c = new ArrayList<>();
        if (suite == Suite.BFLOAT16) {
            c.add(conv(2, 1, 12, 12, 8, 3, 1, 1, false));
            c.add(conv(2, 3, 10, 10, 16, 3, 1, 1, true));
            c.add(conv(2, 16, 9, 9, 32, 3, 2, 1, false));
            c.add(conv(2, 16, 8, 8, 32, 1, 2, 0, false));
            // The small ConvNet's layers (width 32, 28 px), its head and SimCLR's similarity product.
            c.add(conv(8, 1, 28, 28, 32, 3, 1, 1, false));
            c.add(conv(8, 32, 28, 28, 32, 3, 1, 1, false));
            c.add(conv(8, 64, 7, 7, 128, 3, 1, 1, false));
            c.add(linear(16, 512, 256));
            c.add(matMul(1, 64, 128, 64));
            return c;
        }
        // Edge shapes: one and three input channels (the stems), odd sizes, stride 2, 1x1, patch embedding.
        c.add(conv(2, 1, 12, 12, 8, 3, 1, 1, false));
        c.add(conv(2, 3, 10, 10, 16, 3, 1, 1, true));
        c.add(conv(2, 16, 8, 8, 32, 3, 1, 1, false));
        c.add(conv(2, 16, 9, 9, 32, 3, 2, 1, false));
        c.add(conv(2, 16, 8, 8, 32, 1, 2, 0, false));
        c.add(conv(2, 1, 12, 12, 16, 4, 4, 0, true));
        c.add(batchNormTrain(4, 16, 6, 6));
        c.add(batchNormEval(4, 16, 6, 6));
        c.add(linear(8, 64, 32));
        c.add(matMul(3, 12, 12, 12));
        c.add(maxPool(2, 8, 8, 8));
        c.add(globalAvgPool(2, 8, 4, 4));
        c.add(relu(2, 8, 6, 6));
        c.add(softmaxCrossEntropy(16, 10));
        c.add(softmax(4, 16));
        c.add(gelu(8, 32));
        if (suite == Suite.FULL) {
            // The small ConvNet (width 32) on 28 px, batch 8.
            c.add(conv(8, 1, 28, 28, 32, 3, 1, 1, false));
            c.add(conv(8, 32, 28, 28, 32, 3, 1, 1, false));
            c.add(conv(8, 32, 14, 14, 64, 3, 1, 1, false));
            c.add(conv(8, 64, 7, 7, 128, 3, 1, 1, false));
            c.add(batchNormTrain(8, 64, 14, 14));
            c.add(maxPool(8, 32, 28, 28));
            // ResNet-18 (width 64) on 32 px, batch 4.
            c.add(conv(4, 3, 32, 32, 64, 3, 1, 1, false));
            c.add(conv(4, 64, 32, 32, 64, 3, 1, 1, false));
            c.add(conv(4, 64, 32, 32, 128, 3, 2, 1, false));
            c.add(conv(4, 64, 32, 32, 128, 1, 2, 0, false));
            c.add(conv(4, 128, 16, 16, 256, 3, 2, 1, false));
            c.add(conv(4, 256, 8, 8, 512, 3, 2, 1, false));
            c.add(conv(4, 512, 4, 4, 512, 3, 1, 1, false));
            c.add(globalAvgPool(4, 512, 4, 4));
            // Heads, losses, the ViT (dim 128, 4 px patches on 28 px) and the augmentations' crop products.
            c.add(linear(16, 512, 2048));
            c.add(batchNormTrain(16, 2048, 1, 1));
            c.add(softmaxCrossEntropy(256, 511));
            c.add(conv(8, 1, 28, 28, 128, 4, 4, 0, true));
            c.add(linear(64, 128, 384));
            c.add(matMul(32, 50, 32, 50));
            c.add(softmax(32 * 50, 50));
            c.add(gelu(64, 512));
            c.add(matMul(64, 28, 28, 28));
        }
        return c;
    }

    private static Case conv(int n, int ch, int h, int w, int out, int k, int stride, int pad, boolean bias) {
        int ho = Reference.convOut(h, k, stride, pad);
        int wo = Reference.convOut(w, k, stride, pad);
        List<Input> in = new ArrayList<>(List.of(Input.grad("x", n, ch, h, w), Input.grad("weight", out, ch, k, k)));
        if (bias) {
            in.add(Input.grad("bias", out));
        }
        Shape s = new Shape(stride, stride);
        Shape p = new Shape(pad, pad);
        return new Case(
                "conv2d " + k + "x" + k + " stride " + stride,
                shape(n, ch, h, w) + "->" + shape(n, out, ho, wo),
                in,
                a -> Conv2d.conv2d(a.get(0), a.get(1), bias ? a.get(2) : null, s, p, new Shape(1, 1))
                        .head(),
                (x, g) -> {
                    double[][] r =
                            Reference.conv2d(x[0], x[1], bias ? x[2] : null, g, n, ch, h, w, out, k, stride, pad);
                    return bias ? r : Arrays.copyOf(r, 3);
                });
    }

    private static Case batchNormTrain(int n, int ch, int h, int w) {
        return new Case(
                "batch norm (training)",
                shape(n, ch, h, w),
                List.of(Input.grad("x", n, ch, h, w), Input.grad("gamma", ch), Input.grad("beta", ch)),
                a -> {
                    NDManager m = a.get(0).getManager();
                    return BatchNorm.batchNorm(
                                    a.get(0),
                                    m.zeros(new Shape(ch)),
                                    m.ones(new Shape(ch)),
                                    a.get(1),
                                    a.get(2),
                                    1,
                                    0.1f,
                                    EPS,
                                    true)
                            .head();
                },
                (x, g) -> Reference.batchNormTrain(x[0], x[1], x[2], g, n, ch, h * w, EPS));
    }

    private static Case batchNormEval(int n, int ch, int h, int w) {
        return new Case(
                "batch norm (inference)",
                shape(n, ch, h, w),
                List.of(
                        Input.grad("x", n, ch, h, w),
                        Input.fixed("gamma", Fill.NORMAL, ch),
                        Input.fixed("beta", Fill.NORMAL, ch),
                        Input.fixed("running mean", Fill.NORMAL, ch),
                        Input.fixed("running variance", Fill.POSITIVE, ch)),
                a -> BatchNorm.batchNorm(a.get(0), a.get(3), a.get(4), a.get(1), a.get(2), 1, 0.1f, EPS, false)
                        .head(),
                (x, g) -> Reference.batchNormEval(x[0], x[1], x[2], x[3], x[4], g, n, ch, h * w, EPS));
    }

    private static Case linear(int batch, int in, int out) {
        return new Case(
                "linear",
                shape(batch, in) + "->" + shape(batch, out),
                List.of(Input.grad("x", batch, in), Input.grad("weight", out, in), Input.grad("bias", out)),
                a -> Linear.linear(a.get(0), a.get(1), a.get(2)).head(),
                (x, g) -> Reference.linear(x[0], x[1], x[2], g, batch, in, out));
    }

    private static Case matMul(int batch, int m, int k, int n) {
        return new Case(
                "batched matmul",
                shape(batch, m, k) + "@" + shape(batch, k, n),
                List.of(Input.grad("a", batch, m, k), Input.grad("b", batch, k, n)),
                a -> a.get(0).matMul(a.get(1)),
                (x, g) -> Reference.matMul(x[0], x[1], g, batch, m, k, n));
    }

    private static Case maxPool(int n, int ch, int h, int w) {
        return new Case(
                "max pool 2x2",
                shape(n, ch, h, w),
                List.of(Input.grad("x", n, ch, h, w)),
                a -> Pool.maxPool2d(a.get(0), new Shape(2, 2), new Shape(2, 2), new Shape(0, 0), false),
                (x, g) -> Reference.maxPool(x[0], g, n * ch, h, w, 2, 2));
    }

    private static Case globalAvgPool(int n, int ch, int h, int w) {
        return new Case(
                "global average pool",
                shape(n, ch, h, w),
                List.of(Input.grad("x", n, ch, h, w)),
                a -> Pool.globalAvgPool2d(a.get(0)),
                (x, g) -> Reference.globalAvgPool(x[0], g, n * ch, h * w));
    }

    private static Case relu(int n, int ch, int h, int w) {
        return new Case(
                "relu",
                shape(n, ch, h, w),
                List.of(Input.grad("x", n, ch, h, w)),
                a -> Activation.relu(a.get(0)),
                (x, g) -> Reference.relu(x[0], g));
    }

    private static Case softmaxCrossEntropy(int rows, int k) {
        return new Case(
                "softmax cross entropy",
                shape(rows, k),
                List.of(Input.grad("logits", rows, k), Input.fixed("targets", Fill.ONE_HOT, rows, k)),
                a -> a.get(0).logSoftmax(1).mul(a.get(1)).sum(new int[] {1}).neg(),
                (x, g) -> Reference.softmaxCrossEntropy(x[0], x[1], g, rows, k));
    }

    private static Case softmax(int rows, int k) {
        return new Case(
                "softmax",
                shape(rows, k),
                List.of(Input.grad("x", rows, k)),
                a -> a.get(0).softmax(-1),
                (x, g) -> Reference.softmax(x[0], g, rows, k));
    }

    private static Case gelu(int rows, int k) {
        return new Case(
                "gelu",
                shape(rows, k),
                List.of(Input.grad("x", rows, k)),
                a -> Activation.gelu(a.get(0)),
                (x, g) -> Reference.gelu(x[0], g));
    }

    private static String shape(long... dims) {
        return Arrays.toString(dims).replace(" ", "");
    }

    // ---- running one case ------------------------------------------------------------------------------------

    private static NumericsReport.OpCheck check(
            Case c, long seed, NDManager parent, ReferenceFault fault, Region region, double tolerance) {
        Random random = new Random(seed);
        float[][] inputs = new float[c.inputs().size()][];
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = fill(c.inputs().get(i), random);
        }
        float[][] first = runEngine(c, inputs, seed, parent, region);
        float[][] second = runEngine(c, inputs, seed, parent, region);
        boolean reproducible = true;
        for (int i = 0; i < first.length; i++) {
            reproducible &= Arrays.equals(first[i], second[i]);
        }
        double[][] in = new double[inputs.length][];
        for (int i = 0; i < inputs.length; i++) {
            in[i] = toDouble(inputs[i]);
        }
        double[] g = toDouble(outputGradient(first[0].length, seed));
        double[][] ref = c.ref().apply(in, g);
        List<String> outputs = outputNames(c);
        double worst = 0;
        String worstOutput = outputs.get(0);
        for (int i = 0; i < first.length; i++) {
            fault.apply(c.op(), outputs.get(i), ref[i]);
            double e = relativeError(first[i], ref[i]);
            if (!(e <= worst)) {
                worst = e;
                worstOutput = outputs.get(i);
            }
        }
        return new NumericsReport.OpCheck(c.op(), c.shape(), worstOutput, worst, tolerance, reproducible);
    }

    private static List<String> outputNames(Case c) {
        List<String> names = new ArrayList<>(List.of("forward"));
        c.inputs().stream().filter(Input::grad).forEach(i -> names.add("d " + i.name()));
        return names;
    }

    /** {output, gradients of the inputs that take one}, from a fresh set of arrays. */
    private static float[][] runEngine(Case c, float[][] inputs, long seed, NDManager parent, Region region) {
        try (NDManager m = parent.newSubManager()) {
            NDList arrays = new NDList();
            for (int i = 0; i < inputs.length; i++) {
                NDArray a = m.create(inputs[i], c.inputs().get(i).shape());
                if (c.inputs().get(i).grad()) {
                    a.setRequiresGradient(true);
                }
                arrays.add(a);
            }
            NDArray out;
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                try (AutoCloseable r = region.open()) {
                    out = c.engine().apply(arrays);
                }
                // A bfloat16 result (which DJL can neither name nor read) comes back as float32 by an add of a float32
                // zero that type promotion widens: DJL's toType would cut the gradient's path.
                if (out.getDataType() != DataType.FLOAT32) {
                    out = out.add(m.zeros(new Shape(1)));
                }
                NDArray g = m.create(outputGradient(Math.toIntExact(out.size()), seed), out.getShape());
                collector.backward(out.mul(g).sum());
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException("closing the region failed", e);
            }
            List<float[]> results = new ArrayList<>();
            results.add(out.toFloatArray());
            for (int i = 0; i < inputs.length; i++) {
                if (c.inputs().get(i).grad()) {
                    results.add(arrays.get(i).getGradient().toFloatArray());
                }
            }
            return results.toArray(new float[0][]);
        }
    }

    private static float[] fill(Input input, Random random) {
        int size = Math.toIntExact(input.shape().size());
        float[] v = new float[size];
        switch (input.fill()) {
            case NORMAL -> {
                for (int i = 0; i < size; i++) {
                    v[i] = (float) random.nextGaussian();
                }
            }
            case POSITIVE -> {
                for (int i = 0; i < size; i++) {
                    v[i] = 0.5f + random.nextFloat();
                }
            }
            case ONE_HOT -> {
                int k = Math.toIntExact(input.shape().get(input.shape().dimension() - 1));
                for (int r = 0; r < size / k; r++) {
                    v[r * k + random.nextInt(k)] = 1f;
                }
            }
        }
        return v;
    }

    /** The gradient of the loss with respect to the output: fixed random values, so every path is exercised. */
    private static float[] outputGradient(int size, long seed) {
        Random random = new Random(seed ^ 0x5DEECE66DL);
        float[] g = new float[size];
        for (int i = 0; i < size; i++) {
            g[i] = (float) random.nextGaussian();
        }
        return g;
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    /** max |engine - reference| / max |reference|; NaN or infinity when the engine's values are not finite. */
    static double relativeError(float[] engine, double[] reference) {
        if (engine.length != reference.length) {
            return Double.POSITIVE_INFINITY;
        }
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < engine.length; i++) {
            if (!Float.isFinite(engine[i])) {
                return Double.NaN;
            }
            diff = Math.max(diff, Math.abs(engine[i] - reference[i]));
            scale = Math.max(scale, Math.abs(reference[i]));
        }
        return diff / Math.max(scale, 1e-30);
    }
}
