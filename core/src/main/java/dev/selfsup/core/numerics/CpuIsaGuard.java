package dev.selfsup.core.numerics;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the widest instruction set oneDNN (libtorch's convolution library) may use, before its first
 * convolution. oneDNN reads {@code ONEDNN_MAX_CPU_ISA} once, when it creates its first primitive, so setting the
 * variable in this process before any convolution runs is enough; no launcher has to know about it.
 *
 * <p>Why a cap at all: on an AMD Zen 5 CPU libtorch 2.3.1's AVX-512 convolution kernels gave NaN losses and
 * runs that differed between repetitions, while the AVX2 kernels were right (docs/numerics.md). Capping at AVX2
 * changes nothing on a CPU without AVX-512, so {@code safe} costs speed only where AVX-512 exists.
 *
 * <p>The setting, from the system property {@code selfsup.cpu.isa} or else the environment variable
 * {@code SELFSUP_CPU_ISA}:
 * <ul>
 *   <li>{@code auto} (default): every instruction set of the CPU if it passes a check measured on this machine
 *       (the numerics self-check and a short training run in child processes, against AVX2: {@link IsaTrial}),
 *       else at most AVX2. The verdict is cached per CPU and libtorch build;</li>
 *   <li>{@code safe}: at most AVX2;</li>
 *   <li>{@code native}: whatever the CPU has (the numerics self-check still guards it);</li>
 *   <li>a oneDNN name such as {@code AVX512_CORE} or {@code SSE41}: that cap.</li>
 * </ul>
 * An {@code ONEDNN_MAX_CPU_ISA} already in the environment wins over all of these.
 */
public final class CpuIsaGuard {
    private static final Logger LOG = LoggerFactory.getLogger(CpuIsaGuard.class);

    /** The variable oneDNN reads. */
    public static final String ONEDNN_VARIABLE = "ONEDNN_MAX_CPU_ISA";
    /** The system property that chooses the policy. */
    public static final String PROPERTY = "selfsup.cpu.isa";
    /** The environment variable that chooses the policy when the property is absent. */
    public static final String ENVIRONMENT = "SELFSUP_CPU_ISA";

    private static final String DECIDED = "selfsup.cpu.isa.decided";
    /** The cap of the {@code safe} policy. */
    public static final String SAFE_CAP = "AVX2";

    /** oneDNN's names for its instruction-set caps (oneDNN 3.3, the version in libtorch 2.3.1). */
    static final Set<String> ONEDNN_NAMES = Set.of(
            "SSE41",
            "AVX",
            "AVX2",
            "AVX2_VNNI",
            "AVX2_VNNI_2",
            "AVX512_CORE",
            "AVX512_CORE_VNNI",
            "AVX512_CORE_BF16",
            "AVX512_CORE_FP16",
            "AVX512_CORE_AMX",
            "AVX512_CORE_AMX_FP16",
            "DEFAULT",
            "ALL");

    private static IsaDecision decision;
    private static IsaTrial.Verdict verdict;

    private CpuIsaGuard() {}

    /**
     * What was decided, and how.
     *
     * @param policy the policy asked for: safe, native, or a oneDNN name; "environment" when
     *     {@code ONEDNN_MAX_CPU_ISA} was set from outside
     * @param cap the cap in force, e.g. "AVX2", or "none"
     * @param appliedBeforeEngine false when libtorch was already in the process when the cap was set: it then
     *     holds only if no convolution had run yet
     */
    public record IsaDecision(String policy, String cap, boolean appliedBeforeEngine) {
        /** For logs, health checks and the info RPC, e.g. "AVX2 (policy safe)". */
        public String describe() {
            return cap + " (policy " + policy + (appliedBeforeEngine ? "" : ", set after libtorch had loaded") + ")";
        }
    }

    /**
     * Applies the policy once per process and returns the decision; later calls return the first decision.
     *
     * @throws IllegalArgumentException for a policy that is none of the known values
     */
    public static synchronized IsaDecision apply() {
        if (decision == null) {
            // Several class loaders (a test launcher and the application under test) may each hold this class;
            // the first decision in the JVM is kept in a system property so that all of them report the same.
            String earlier = System.getProperty(DECIDED);
            if (earlier != null) {
                String[] f = earlier.split("\\|", -1);
                decision = new IsaDecision(f[0], f[1], Boolean.parseBoolean(f[2]));
            } else {
                decision = decide(System.getProperty(PROPERTY, System.getenv(ENVIRONMENT)));
                System.setProperty(
                        DECIDED, decision.policy() + "|" + decision.cap() + "|" + decision.appliedBeforeEngine());
            }
        }
        return decision;
    }

    /** What the {@code auto} policy measured in this process, or null if it did not run here. */
    public static synchronized IsaTrial.Verdict verdict() {
        return verdict;
    }

    private static IsaDecision decide(String requested) {
        String outside = LibC.getenv(ONEDNN_VARIABLE);
        boolean early = !libtorchLoaded();
        if (outside != null && !outside.isBlank()) {
            return new IsaDecision("environment", outside.trim().toUpperCase(Locale.ROOT), early);
        }
        String policy = requested == null || requested.isBlank()
                ? "auto"
                : requested.trim().toLowerCase(Locale.ROOT);
        String cap = switch (policy) {
            case "auto" -> {
                if (!early) {
                    // The engine is loaded already: its instruction set may be fixed; stay with the safe cap.
                    yield SAFE_CAP;
                }
                IsaTrial.Verdict v = IsaTrial.decide(Map.of());
                verdict = v;
                LOG.info("oneDNN instruction set: {} ({}{})", v.cap(), v.reason(), v.cached() ? ", cached" : "");
                yield "none".equals(v.cap()) ? null : v.cap();
            }
            case "safe" -> SAFE_CAP;
            case "native" -> null;
            default -> {
                String name = policy.toUpperCase(Locale.ROOT);
                if (!ONEDNN_NAMES.contains(name)) {
                    throw new IllegalArgumentException(
                            ENVIRONMENT + " (or -D" + PROPERTY + ") must be auto, safe, native " + "or one of "
                                    + new TreeSet<>(ONEDNN_NAMES) + "; got '" + requested + "'");
                }
                yield name;
            }
        };
        if (cap == null) {
            return new IsaDecision(policy, "none", early);
        }
        LibC.setenv(ONEDNN_VARIABLE, cap);
        if (!early) {
            LOG.warn(
                    "{}={} was set after libtorch had loaded; it holds only if no convolution has run yet. "
                            + "Call NumericsGuard.verify() before any other use of the engine.",
                    ONEDNN_VARIABLE,
                    cap);
        }
        return new IsaDecision(policy, cap, early);
    }

    /** Whether libtorch is mapped into this process already (Linux; false where that cannot be seen). */
    static boolean libtorchLoaded() {
        try {
            return Files.readString(Path.of("/proc/self/maps")).contains("libtorch_cpu.so");
        } catch (Exception e) {
            return false;
        }
    }
}
