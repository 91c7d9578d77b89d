package dev.selfsup.core.numerics;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Applies the instruction-set policy when a test session opens, before any test runs a convolution, exactly as
 * a service or the CLI does before its first use of the engine. Shipped in core's test jar, so every module's
 * tests get it. {@code SELFSUP_CPU_ISA=native} in the environment turns the cap off, to see a CPU's own kernels.
 */
public class IsaGuardSessionListener implements LauncherSessionListener {
    /** Set when the listener has run: tests check that the policy really came first. */
    static final String MARKER = "selfsup.test.isa-guard-listener";

    @Override
    public void launcherSessionOpened(LauncherSession session) {
        CpuIsaGuard.IsaDecision d = CpuIsaGuard.apply();
        System.setProperty(MARKER, d.describe());
    }
}
