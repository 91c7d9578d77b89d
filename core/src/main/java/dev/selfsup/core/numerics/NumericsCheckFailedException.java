package dev.selfsup.core.numerics;

/**
 * The engine computes wrongly on this CPU with the instruction set in force: the process must neither train
 * nor serve. The message names the CPU, the op and the fix.
 */
public class NumericsCheckFailedException extends IllegalStateException {
    private final transient NumericsReport report;

    /** @param report the failed check */
    public NumericsCheckFailedException(NumericsReport report) {
        super(message(report));
        this.report = report;
    }

    /** The check that failed. */
    public NumericsReport report() {
        return report;
    }

    static String message(NumericsReport r) {
        StringBuilder s = new StringBuilder("The numerics self-check failed on this CPU, ")
                .append(r.cpu())
                .append(", with the oneDNN instruction set capped at ")
                .append(r.isa())
                .append(". ");
        var failures = r.failures();
        for (int i = 0; i < Math.min(3, failures.size()); i++) {
            s.append(failures.get(i).describe()).append(". ");
        }
        if (failures.size() > 3) {
            s.append("And ").append(failures.size() - 3).append(" more. ");
        }
        s.append("Training or serving here would give wrong numbers, so this process stops. Fix: ");
        String cap = r.isa().split(" ", 2)[0];
        if (cap.equals("SSE41")) {
            s.append("none is left to try on this machine (SSE4.1 is the narrowest set); report the CPU with the "
                    + "output of 'bench/check-cpu' (docs/numerics.md).");
        } else if (cap.equals("none") || cap.startsWith("AVX512") || cap.equals("ALL") || cap.equals("DEFAULT")) {
            s.append("unset ")
                    .append(CpuIsaGuard.ENVIRONMENT)
                    .append(" or set it to safe (oneDNN at most AVX2), and " + "leave ")
                    .append(CpuIsaGuard.ONEDNN_VARIABLE)
                    .append(" unset (docs/numerics.md).");
        } else {
            s.append("set ")
                    .append(CpuIsaGuard.ENVIRONMENT)
                    .append("=SSE41 in the environment before the process "
                            + "starts (slower, other kernels), and report the CPU with the output of 'bench/check-cpu' "
                            + "(docs/numerics.md).");
        }
        return s.toString();
    }
}
