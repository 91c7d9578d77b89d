package dev.selfsup.core.numerics;

import java.util.List;
import java.util.Locale;

/**
 * What the numerics self-check found: every op it compared, against what, and the verdict.
 *
 * @param cpu the CPU, as {@link CpuInfo#describe()}
 * @param isa the oneDNN instruction-set cap in force, as {@link CpuIsaGuard.IsaDecision#describe()}
 * @param suite which set of shapes was checked ("quick" at start, "full" in tests and {@code bench/check-cpu})
 * @param ops one entry per op and shape
 * @param millis how long the check took
 */
public record NumericsReport(String cpu, String isa, String suite, List<OpCheck> ops, long millis) {
    /**
     * One op at one shape, forward and backward.
     *
     * @param op the op, e.g. "conv2d 3x3 stride 2"
     * @param shape input and output shapes
     * @param worstOutput the output or gradient with the largest error, e.g. "forward" or "d weight"
     * @param error the largest absolute difference from the float64 reference, relative to the reference's
     *     largest magnitude (NaN when the engine gave NaN or infinity)
     * @param tolerance the largest error accepted
     * @param reproducible whether two runs on the same input gave the same bits
     */
    public record OpCheck(
            String op, String shape, String worstOutput, double error, double tolerance, boolean reproducible) {
        /** Whether the op is within tolerance and reproducible. */
        public boolean passed() {
            return error <= tolerance && reproducible;
        }

        /** For messages: what is wrong with this op, or that it is fine. */
        public String describe() {
            String what = op + " " + shape;
            if (!reproducible) {
                return what + ": two runs on the same input gave different results";
            }
            return what + ": " + worstOutput + " differs from the float64 reference by "
                    + String.format(Locale.ROOT, "%.2e", error) + " (relative; limit "
                    + String.format(Locale.ROOT, "%.0e", tolerance) + ")";
        }
    }

    /** Whether every op passed. */
    public boolean passed() {
        return ops.stream().allMatch(OpCheck::passed);
    }

    /** The ops that failed. */
    public List<OpCheck> failures() {
        return ops.stream().filter(o -> !o.passed()).toList();
    }

    /** The largest relative error over all ops (NaN if any op gave NaN). */
    public double largestError() {
        double worst = 0;
        for (OpCheck o : ops) {
            if (!(o.error() <= worst)) {
                worst = o.error();
            }
        }
        return worst;
    }

    /** A table: the CPU and cap, then one line per op with its worst output and error. */
    public String table() {
        StringBuilder s = new StringBuilder(
                "CPU " + cpu + ", oneDNN capped at " + isa + ", " + suite + " suite, " + millis + " ms\n");
        for (OpCheck o : ops) {
            s.append(String.format(
                    Locale.ROOT,
                    "  %-24s %-32s %-9s %.2e %s%n",
                    o.op(),
                    o.shape(),
                    o.worstOutput(),
                    o.error(),
                    !o.reproducible() ? "NOT REPRODUCIBLE" : o.passed() ? "ok" : "WRONG"));
        }
        return s.toString();
    }

    /** One line for logs, health checks and the info RPC. */
    public String summary() {
        if (passed()) {
            return String.format(
                    Locale.ROOT,
                    "passed: %d ops (%s suite) within tolerance and reproducible, "
                            + "largest relative error %.1e, %d ms",
                    ops.size(),
                    suite,
                    largestError(),
                    millis);
        }
        return "failed: " + failures().size() + " of " + ops.size() + " ops (" + suite + " suite), first: "
                + failures().get(0).describe();
    }
}
