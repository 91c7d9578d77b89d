package dev.selfsup.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The op-by-op comparison against float64 on the CPU under the test, at the backbones' real shapes. It passes
 * under the default policy; run with {@code SELFSUP_CPU_ISA=native} to see whether this CPU's widest kernels
 * are right (on the AMD Zen 5 machine of docs/numerics.md they were not).
 */
class NumericsSelfCheckTest {
    @Test
    void everyOpMatchesTheFloat64ReferenceOnThisCpu() {
        NumericsReport r = NumericsSelfCheck.run(NumericsSelfCheck.Suite.FULL);
        System.out.print(r.table());
        assertTrue(r.passed(), r.summary() + " | " + r.failures());
        List<String> ops =
                r.ops().stream().map(NumericsReport.OpCheck::op).distinct().toList();
        for (String op : List.of(
                "conv2d 3x3 stride 1",
                "conv2d 3x3 stride 2",
                "conv2d 1x1 stride 2",
                "conv2d 4x4 stride 4",
                "batch norm (training)",
                "batch norm (inference)",
                "linear",
                "batched matmul",
                "max pool 2x2",
                "global average pool",
                "relu",
                "softmax cross entropy",
                "softmax",
                "gelu")) {
            assertTrue(ops.contains(op), "the check covers " + op);
        }
        // The largest error is that of float32 arithmetic, not zero (the comparison really compares).
        assertTrue(r.largestError() > 1e-9 && r.largestError() < NumericsSelfCheck.TOLERANCE, r.summary());
    }

    @Test
    void aWrongReferenceFailsTheCheckWithAMessageNamingCpuOpAndFix() {
        NumericsReport r = NumericsSelfCheck.run(NumericsSelfCheck.Suite.QUICK, (op, output, ref) -> {
            if (op.equals("conv2d 3x3 stride 2") && output.equals("d weight")) {
                ref[7] += 0.01 * Math.abs(ref[7]) + 0.05;
            }
        });
        assertFalse(r.passed());
        assertEquals(1, r.failures().size(), r.failures().toString());
        NumericsReport.OpCheck f = r.failures().get(0);
        assertEquals("d weight", f.worstOutput());
        String message = new NumericsCheckFailedException(r).getMessage();
        System.out.println(message);
        assertTrue(message.contains(CpuInfo.current().model()), message);
        assertTrue(message.contains("conv2d 3x3 stride 2 [2,16,9,9]->[2,32,5,5]: d weight differs"), message);
        assertTrue(message.contains("SELFSUP_CPU_ISA"), message);
        assertTrue(r.summary().startsWith("failed: 1 of"), r.summary());
    }

    @Test
    void anEngineNanOrIrreproducibleResultFails() {
        assertTrue(Double.isNaN(NumericsSelfCheck.relativeError(new float[] {1f, Float.NaN}, new double[] {1, 2})));
        var nan = new NumericsReport.OpCheck("conv2d", "[1]", "forward", Double.NaN, 1e-4, true);
        var flaky = new NumericsReport.OpCheck("conv2d", "[1]", "forward", 1e-7, 1e-4, false);
        assertFalse(nan.passed());
        assertFalse(flaky.passed());
        assertTrue(flaky.describe().contains("two runs on the same input gave different results"));
        NumericsReport r = new NumericsReport("cpu", "none (policy native)", "quick", List.of(nan), 1);
        assertTrue(Double.isNaN(r.largestError()));
        assertTrue(new NumericsCheckFailedException(r).getMessage().contains("set it to safe"));
    }

    @Test
    void theGuardRunsTheCheckOnceAndReportsIt() {
        NumericsReport first = NumericsGuard.verify();
        assertTrue(first.passed());
        assertEquals("quick", first.suite());
        assertEquals(CpuIsaGuard.apply().describe(), first.isa());
        assertTrue(first == NumericsGuard.verify(), "one check per process");
    }

    // ---- the references themselves, against finite differences and known values ----

    @Test
    void theErrorFunctionIsExact() {
        assertEquals(0.8427007929497149, Reference.erf(1), 1e-14);
        assertEquals(-0.9953222650189527, Reference.erf(-2), 1e-14);
        assertEquals(0.9999779095030014, Reference.erf(3), 1e-14);
        assertEquals(0.0, Reference.erf(0), 0);
    }

    @Test
    void referenceConvolutionOnAHandComputedCase() {
        // 1x1x3x3 input 1..9, one 2x2 kernel [[1,0],[0,-1]], stride 1, no padding: y[i][j] = x[i][j] - x[i+1][j+1].
        double[] x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        double[][] r = Reference.conv2d(
                x, new double[] {1, 0, 0, -1}, new double[] {0.5}, new double[] {1, 1, 1, 1}, 1, 1, 3, 3, 1, 2, 1, 0);
        assertEquals(List.of(-3.5, -3.5, -3.5, -3.5), box(r[0]));
        assertEquals(List.of(1.0, 1.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, -1.0), box(r[1]));
        assertEquals(List.of(12.0, 16.0, 24.0, 28.0), box(r[2]));
        assertEquals(List.of(4.0), box(r[3]));
    }

    @Test
    void referenceGradientsAgreeWithFiniteDifferences() {
        Random rnd = new Random(3);
        // conv 2x3x5x5 -> 4 channels, 3x3, stride 2, padding 1
        double[] x = gaussian(rnd, 2 * 3 * 25);
        double[] w = gaussian(rnd, 4 * 3 * 9);
        double[] b = gaussian(rnd, 4);
        double[] g = gaussian(rnd, 2 * 4 * 3 * 3);
        double[][] conv = Reference.conv2d(x, w, b, g, 2, 3, 5, 5, 4, 3, 2, 1);
        assertGradient(conv[1], x, v -> Reference.conv2d(v, w, b, g, 2, 3, 5, 5, 4, 3, 2, 1)[0], g);
        assertGradient(conv[2], w, v -> Reference.conv2d(x, v, b, g, 2, 3, 5, 5, 4, 3, 2, 1)[0], g);
        double[] gamma = gaussian(rnd, 3);
        double[] beta = gaussian(rnd, 3);
        double[] gb = gaussian(rnd, x.length);
        double[][] bn = Reference.batchNormTrain(x, gamma, beta, gb, 2, 3, 25, 1e-5);
        assertGradient(bn[1], x, v -> Reference.batchNormTrain(v, gamma, beta, gb, 2, 3, 25, 1e-5)[0], gb);
        assertGradient(bn[2], gamma, v -> Reference.batchNormTrain(x, v, beta, gb, 2, 3, 25, 1e-5)[0], gb);
        double[] logits = gaussian(rnd, 4 * 6);
        double[] target = new double[24];
        for (int r = 0; r < 4; r++) {
            target[r * 6 + r] = 1;
        }
        double[] gl = gaussian(rnd, 4);
        assertGradient(
                Reference.softmaxCrossEntropy(logits, target, gl, 4, 6)[1],
                logits,
                v -> Reference.softmaxCrossEntropy(v, target, gl, 4, 6)[0],
                gl);
        double[] gs = gaussian(rnd, 24);
        assertGradient(Reference.softmax(logits, gs, 4, 6)[1], logits, v -> Reference.softmax(v, gs, 4, 6)[0], gs);
        assertGradient(Reference.gelu(logits, gs)[1], logits, v -> Reference.gelu(v, gs)[0], gs);
        double[] a = gaussian(rnd, 2 * 3 * 4);
        double[] bm = gaussian(rnd, 2 * 4 * 5);
        double[] gm = gaussian(rnd, 2 * 3 * 5);
        assertGradient(
                Reference.matMul(a, bm, gm, 2, 3, 4, 5)[2], bm, v -> Reference.matMul(a, v, gm, 2, 3, 4, 5)[0], gm);
        double[] wl = gaussian(rnd, 5 * 6);
        double[] bl = gaussian(rnd, 5);
        double[] glin = gaussian(rnd, 4 * 5);
        assertGradient(
                Reference.linear(logits, wl, bl, glin, 4, 6, 5)[1],
                logits,
                v -> Reference.linear(v, wl, bl, glin, 4, 6, 5)[0],
                glin);
    }

    /** d(sum(f(v) * g))/dv by central differences equals the analytic gradient. */
    private static void assertGradient(double[] analytic, double[] at, Function<double[], double[]> f, double[] g) {
        double h = 1e-6;
        for (int i = 0; i < at.length; i++) {
            double[] plus = at.clone();
            double[] minus = at.clone();
            plus[i] += h;
            minus[i] -= h;
            double numeric = (dot(f.apply(plus), g) - dot(f.apply(minus), g)) / (2 * h);
            assertEquals(numeric, analytic[i], 1e-6 * Math.max(1, Math.abs(numeric)), "element " + i);
        }
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double[] gaussian(Random r, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextGaussian();
        }
        return v;
    }

    private static List<Double> box(double[] v) {
        return Arrays.stream(v).boxed().toList();
    }
}
