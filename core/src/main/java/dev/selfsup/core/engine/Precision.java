package dev.selfsup.core.engine;

import ai.djl.Device;
import dev.selfsup.core.numerics.NumericsReport;
import dev.selfsup.core.numerics.NumericsSelfCheck;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The precision a run trains in, decided once per process: bfloat16 only where it was asked for, the shim and
 * this libtorch can switch autocast, and the bfloat16 self-check passed on this CPU (convolutions, linear layers
 * and matrix products, forward and backward, against float64 with their own tolerance). Anything else trains in
 * float32 and says why, so no run computes with a path that failed its check.
 *
 * @param requested what the run asked for ("float32" or "bfloat16")
 * @param used what it trains in
 * @param reason why {@code used} differs from {@code requested}; null when it does not
 */
public record Precision(String requested, String used, String reason) {
    private static final Logger LOG = LoggerFactory.getLogger(Precision.class);
    private static NumericsReport check;

    /** Float32. */
    public static final String FLOAT32 = "float32";
    /** Bfloat16 autocast over float32 weights. */
    public static final String BFLOAT16 = "bfloat16";

    /** Whether the run computes its forward passes in bfloat16. */
    public boolean bfloat16() {
        return BFLOAT16.equals(used);
    }

    /** Decides for a run on {@code device}. */
    public static Precision choose(String requested, Device device) {
        return choose(requested, device, null);
    }

    /**
     * As {@link #choose(String, Device)} with a fault injected into the check's references, for the tests that
     * show a wrong result refuses bfloat16 (null for none); a faulted check is not remembered.
     */
    public static Precision choose(String requested, Device device, NumericsSelfCheck.ReferenceFault fault) {
        if (!BFLOAT16.equals(requested)) {
            return new Precision(FLOAT32, FLOAT32, null);
        }
        String unavailable = Bfloat16.unavailableReason();
        if (unavailable != null) {
            return refuse(unavailable);
        }
        NumericsReport report = bfloat16Check(fault);
        if (!report.passed()) {
            return refuse("the bfloat16 self-check failed on this CPU: "
                    + report.failures().get(0).describe());
        }
        return new Precision(BFLOAT16, BFLOAT16, null);
    }

    /** The bfloat16 self-check's report, run on the first call (about a second); null fault for the real one. */
    private static synchronized NumericsReport bfloat16Check(NumericsSelfCheck.ReferenceFault fault) {
        boolean real = fault == null;
        if (real && check != null) {
            return check;
        }
        NumericsReport report = NumericsSelfCheck.run(
                NumericsSelfCheck.Suite.BFLOAT16,
                real ? (op, output, reference) -> {} : fault,
                () -> Bfloat16.enter(Device.cpu()));
        if (real) {
            check = report;
            LOG.info("bfloat16 self-check on {}: {}", report.cpu(), report.summary());
        }
        return report;
    }

    private static Precision refuse(String reason) {
        LOG.warn("bfloat16 was asked for; training in float32 because {}", reason);
        return new Precision(BFLOAT16, FLOAT32, reason);
    }
}
