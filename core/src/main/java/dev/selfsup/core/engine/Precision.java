package dev.selfsup.core.engine;

import ai.djl.Device;
import dev.selfsup.core.numerics.CpuInfo;
import dev.selfsup.core.numerics.CpuIsaGuard;
import dev.selfsup.core.numerics.NumericsReport;
import dev.selfsup.core.numerics.NumericsSelfCheck;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The precision a run trains in: bfloat16 only where it was asked for, the shim and this libtorch can switch
 * autocast, the CPU computes bfloat16 natively (oneDNN may use its avx512_bf16 or AMX instructions), and the
 * bfloat16 self-check passed in this process (convolutions, linear layers and matrix products, forward and backward,
 * against float64 with their own tolerance). Anything else trains in float32 and says why, so no run computes with
 * a path that failed its check, nor crawls on emulated kernels unless {@link #ALLOW} says so.
 *
 * @param requested what the run asked for ("float32" or "bfloat16")
 * @param used what it trains in
 * @param reason why {@code used} differs from {@code requested}; null when it does not
 */
public record Precision(String requested, String used, String reason) {
    private static final Logger LOG = LoggerFactory.getLogger(Precision.class);
    private static NumericsReport check;

    /** The environment variable that lets a run train in emulated bfloat16 ("allow"). */
    public static final String ALLOW = "SELFSUP_BFLOAT16_EMULATED";

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
        CpuInfo cpu = CpuInfo.current();
        String emulated = device.isGpu()
                ? null
                : emulated(cpu.flags(), CpuIsaGuard.apply().cap());
        return choose(fault, emulated, emulationAllowed());
    }

    /** The decision for bfloat16, given why this CPU would emulate it (null: it would not) and whether it may. */
    static Precision choose(NumericsSelfCheck.ReferenceFault fault, String emulated, boolean emulationAllowed) {
        String unavailable = Bfloat16.unavailableReason();
        if (unavailable != null) {
            return refuse(unavailable);
        }
        if (emulated != null && !emulationAllowed) {
            return refuse(emulated + ", so libtorch would emulate it, many times slower than float32 (" + ALLOW
                    + "=allow trains in it anyway)");
        }
        NumericsReport report = bfloat16Check(fault);
        if (!report.passed()) {
            return refuse("the bfloat16 self-check failed on this CPU: "
                    + report.failures().get(0).describe());
        }
        if (emulated != null) {
            LOG.warn(
                    "bfloat16 on {}: {}; emulated, as {} allows, and slower than float32",
                    CpuInfo.current().describe(),
                    emulated,
                    ALLOW);
        }
        return new Precision(BFLOAT16, BFLOAT16, null);
    }

    /**
     * Null where oneDNN may use the CPU's bfloat16 instructions; else why it may not (a CPU without them, or a cap
     * below them, such as the AVX2 the ISA trial falls back to). Measured on a Zen 5 capped at AVX2: a SimCLR step
     * took 5.5 s in bfloat16 against 0.2 s in float32. A GPU is not judged here.
     *
     * @param flags the CPU's flags, as {@code lscpu} names them
     * @param cap oneDNN's instruction-set cap in force ("none", "AVX2", ...)
     */
    static String emulated(java.util.Set<String> flags, String cap) {
        if (!flags.contains("avx512_bf16") && !flags.contains("amx_bf16")) {
            return "this CPU has no bfloat16 instructions (avx512_bf16 or AMX)";
        }
        if (cap.startsWith("SSE")
                || cap.startsWith("AVX2")
                || cap.equals("AVX")
                || cap.equals("AVX512_CORE")
                || cap.equals("AVX512_CORE_VNNI")) {
            return "oneDNN is capped at " + cap + ", below this CPU's bfloat16 instructions";
        }
        return null;
    }

    /** Whether a run may train in emulated bfloat16 (the tests do, so that its correctness is checked on any CPU). */
    private static boolean emulationAllowed() {
        return "allow".equals(System.getProperty("selfsup.bfloat16.emulated", System.getenv(ALLOW)));
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
