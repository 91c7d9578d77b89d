package dev.selfsup.core.numerics;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one door to the engine for anything that trains or serves: caps oneDNN's instruction set
 * ({@link CpuIsaGuard}) before the first convolution, then runs the quick numerics self-check once per process.
 * A process whose check failed gets the same {@link NumericsCheckFailedException} at every call, so no run and
 * no request computes with wrong numbers.
 */
public final class NumericsGuard {
    private static final Logger LOG = LoggerFactory.getLogger(NumericsGuard.class);
    private static NumericsReport report;

    private NumericsGuard() {}

    /**
     * Makes sure this process computes correctly: on the first call applies the ISA policy, loads the engine
     * and runs the quick self-check (about 0.1 s); later calls return the same report at once.
     *
     * @return the passed check
     * @throws NumericsCheckFailedException when the check failed (now or on an earlier call)
     */
    public static synchronized NumericsReport verify() {
        if (report == null) {
            report = NumericsSelfCheck.run(NumericsSelfCheck.Suite.QUICK);
            if (report.passed()) {
                LOG.info(
                        "Numerics self-check on {} with oneDNN capped at {}: {}",
                        report.cpu(),
                        report.isa(),
                        report.summary());
            } else {
                LOG.error(NumericsCheckFailedException.message(report));
            }
        }
        if (!report.passed()) {
            throw new NumericsCheckFailedException(report);
        }
        return report;
    }

    /** The report of the check if it has run, else null (never runs it). */
    public static synchronized NumericsReport lastReport() {
        return report;
    }
}
