package dev.selfsup.core.numerics;

/**
 * {@code bench/check-cpu [--isa POLICY]}: the full numerics suite on this machine, one line per op; exit 0 when
 * every op is right, 1 when one is wrong, 2 for a bad argument. With {@code --isa native} it shows whether the
 * CPU's widest kernels can be trusted (docs/numerics.md).
 */
public final class CheckCpu {
    private CheckCpu() {}

    public static void main(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--isa") && i + 1 < args.length) {
                System.setProperty(CpuIsaGuard.PROPERTY, args[++i]);
            } else {
                System.err.println("usage: check-cpu [--isa safe|native|ONEDNN_NAME]");
                System.exit(2);
            }
        }
        NumericsReport r;
        try {
            r = NumericsSelfCheck.run(NumericsSelfCheck.Suite.FULL);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.out.print(r.table());
        System.out.println(r.passed() ? r.summary() : NumericsCheckFailedException.message(r));
        System.exit(r.passed() ? 0 : 1);
    }
}
