package dev.selfsup.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The instruction-set policy really reaches oneDNN: each case starts a JVM as a user would (with or without the
 * variables), runs a convolution and reads the instruction set oneDNN reports for it. The default policy may let
 * oneDNN use AVX-512 only where the trial measured on this machine passed ({@link IsaTrial}); the kernels that
 * computed wrongly on AMD Zen 5 must fail it.
 */
class CpuIsaGuardTest {
    private record Probe(String decision, String onednnIsa, String output) {}

    private static Probe probe(Map<String, String> env) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Dai.djl.offline=true",
                IsaProbe.class.getName()));
        pb.environment().remove(CpuIsaGuard.ONEDNN_VARIABLE);
        pb.environment().remove(CpuIsaGuard.ENVIRONMENT);
        pb.environment().put("ONEDNN_VERBOSE", "1");
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "probe did not end");
        assertEquals(0, p.exitValue(), out);
        String decision =
                out.lines().filter(l -> l.startsWith("decision ")).findFirst().orElse("");
        // oneDNN prints e.g. "onednn_verbose,info,cpu,isa:Intel AVX2" before its first primitive.
        String isa = out.lines()
                .filter(l -> l.contains(",info,cpu,isa:"))
                .findFirst()
                .map(l -> l.substring(l.indexOf("isa:") + 4))
                .orElse("");
        return new Probe(decision, isa, out);
    }

    @Test
    void theDefaultPolicyUsesTheWidestSetOnlyWhereItsCheckPassed() throws Exception {
        Path cache = java.nio.file.Files.createTempDirectory("selfsup-isa-cache");
        Probe p = probe(Map.of("SELFSUP_CPU_ISA_CACHE", cache.toString()));
        assertFalse(p.onednnIsa().isEmpty(), "oneDNN named no instruction set: " + p.output());
        if (!CpuInfo.current().hasAvx512()) {
            assertTrue(p.decision().contains("policy=auto cap=AVX2 early=true"), p.output());
            assertTrue(p.onednnIsa().endsWith("AVX2"), p.onednnIsa());
            return;
        }
        // The verdict was measured in child processes and kept; the process followed it.
        var files = java.nio.file.Files.list(cache).toList();
        assertEquals(1, files.size(), files.toString());
        String verdict = java.nio.file.Files.readString(files.get(0));
        if (verdict.contains("cap=none")) {
            assertTrue(p.decision().contains("policy=auto cap=none early=true"), p.output());
            assertTrue(p.onednnIsa().contains("512"), p.onednnIsa());
        } else {
            assertTrue(p.decision().contains("policy=auto cap=AVX2 early=true"), p.output() + verdict);
            assertFalse(p.onednnIsa().contains("512"), p.onednnIsa());
        }
        // A second process reads the verdict instead of measuring again.
        Probe again = probe(Map.of("SELFSUP_CPU_ISA_CACHE", cache.toString()));
        assertEquals(p.decision(), again.decision());
        assertTrue(again.output().contains("verdict cached=true"), again.output());
    }

    @Test
    void theSafePolicyKeepsOneDnnOffAvx512() throws Exception {
        Probe p = probe(Map.of(CpuIsaGuard.ENVIRONMENT, "safe"));
        assertTrue(p.decision().contains("policy=safe cap=AVX2 early=true"), p.output());
        assertFalse(p.onednnIsa().contains("512"), "oneDNN used " + p.onednnIsa() + " under the safe policy");
    }

    @Test
    void aWrongResultFromTheWidestSetRefusesIt() {
        // The child with every instruction set reports losses off by 1e-2 (relative ~5e-3), as a CPU computing
        // wrongly would: the trial must refuse it, whatever this CPU is.
        IsaTrial.Verdict v = IsaTrial.measure(CpuInfo.current(), Map.of(IsaTrial.NO_CAP, "0.01"));
        assertEquals(CpuIsaGuard.SAFE_CAP, v.cap(), v.reason());
        assertTrue(v.reason().contains("relative difference"), v.reason());
        // Without the fault: on a CPU without AVX-512 both children run AVX2 and must agree (else the trial itself
        // is broken). With AVX-512 the verdict is this CPU's own: a refusal must name what was measured, and this
        // process follows it (theDefaultPolicyUsesTheWidestSetOnlyWhereItsCheckPassed).
        IsaTrial.Verdict clean = IsaTrial.measure(CpuInfo.current(), Map.of());
        if (!CpuInfo.current().hasAvx512()) {
            assertEquals("none", clean.cap(), clean.reason());
        } else if (!"none".equals(clean.cap())) {
            assertTrue(clean.reason().startsWith("AVX-512 refused: "), clean.reason());
        }
    }

    @Test
    void nonFiniteOrFailedChildrenAreRefused() {
        double[] good = {2.3, 2.2, 2.1};
        assertEquals(
                null, IsaTrial.compare(new IsaTrial.ChildResult(good, null), new IsaTrial.ChildResult(good, null)));
        String nan = IsaTrial.compare(
                new IsaTrial.ChildResult(new double[] {2.3, Double.NaN, 2.1}, null),
                new IsaTrial.ChildResult(good, null));
        assertTrue(nan.contains("step 1 is NaN"), nan);
        String failed = IsaTrial.compare(
                new IsaTrial.ChildResult(null, "two identical runs differ at step 4"),
                new IsaTrial.ChildResult(good, null));
        assertTrue(failed.contains("differ at step 4"), failed);
    }

    @Test
    void aNamedCapReachesOneDnn() throws Exception {
        Probe p = probe(Map.of(CpuIsaGuard.ENVIRONMENT, "sse41"));
        assertTrue(p.decision().contains("policy=sse41 cap=SSE41"), p.output());
        assertTrue(p.onednnIsa().endsWith("SSE4.1"), p.onednnIsa());
    }

    @Test
    void aVariableSetOutsideWinsAndNativeLeavesTheCpuItsOwn() throws Exception {
        Probe outside = probe(Map.of(CpuIsaGuard.ONEDNN_VARIABLE, "AVX", CpuIsaGuard.ENVIRONMENT, "native"));
        assertTrue(outside.decision().contains("policy=environment cap=AVX"), outside.output());
        assertTrue(outside.onednnIsa().endsWith("Intel AVX"), outside.onednnIsa());

        Probe nativeIsa = probe(Map.of(CpuIsaGuard.ENVIRONMENT, "native"));
        assertTrue(nativeIsa.decision().contains("policy=native cap=none"), nativeIsa.output());
        if (CpuInfo.current().hasAvx512()) {
            assertTrue(nativeIsa.onednnIsa().contains("512"), nativeIsa.onednnIsa());
        }
    }

    @Test
    void anUnknownPolicyIsRefusedWithTheChoices() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                IsaProbe.class.getName()));
        pb.environment().remove(CpuIsaGuard.ONEDNN_VARIABLE);
        pb.environment().put(CpuIsaGuard.ENVIRONMENT, "fastest");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertTrue(p.exitValue() != 0, out);
        assertTrue(
                out.contains("SELFSUP_CPU_ISA") && out.contains("auto, safe, native") && out.contains("'fastest'"),
                out);
    }

    @Test
    void theTestSessionAppliedThePolicyBeforeAnyTestRan() {
        // The listener runs when the test session opens, before any test's first convolution; under the default
        // policy that is before libtorch was even loaded.
        String applied = System.getProperty(IsaGuardSessionListener.MARKER);
        assertEquals(CpuIsaGuard.apply().describe(), applied, "the session listener did not run");
        assertTrue(CpuIsaGuard.apply().appliedBeforeEngine(), applied);
        String cap = CpuIsaGuard.apply().cap();
        // No cap leaves the variable unset (oneDNN then takes what the CPU has); a cap is in the variable.
        assertEquals("none".equals(cap) ? null : cap, LibC.getenv(CpuIsaGuard.ONEDNN_VARIABLE));
    }

    @Test
    void readsTheCpuFromProcCpuinfo() {
        CpuInfo zen5 = CpuInfo.parse(List.of(
                "processor\t: 0",
                "vendor_id\t: AuthenticAMD",
                "cpu family\t: 26",
                "model\t\t: 2",
                "model name\t: AMD EPYC 9B45",
                "flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16",
                "",
                "processor\t: 1",
                "model name\t: other"));
        assertEquals("AMD EPYC 9B45", zen5.model());
        assertEquals(26, zen5.family());
        assertTrue(zen5.hasAvx512());
        assertEquals("AMD EPYC 9B45 (family 26, model 2, AVX-512)", zen5.describe());
        CpuInfo zen3 = CpuInfo.parse(
                List.of("cpu family\t: 25", "model\t\t: 1", "model name\t: AMD EPYC", "flags\t\t: fpu avx avx2 fma"));
        assertFalse(zen3.hasAvx512());
        assertEquals("AVX2", zen3.widestVectorIsa());
    }
}
