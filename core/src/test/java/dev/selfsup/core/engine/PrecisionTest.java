package dev.selfsup.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** Where bfloat16 would be emulated, it is refused unless allowed: emulated, a step is many times slower. */
class PrecisionTest {
    private static final Set<String> ZEN3 = Set.of("avx2", "fma", "sse4_2");
    private static final Set<String> ZEN5 = Set.of("avx2", "avx512f", "avx512bw", "avx512vl", "avx512_bf16");

    @Test
    void bfloat16IsNativeOnlyWithItsInstructionsAndNoCapBelowThem() {
        assertTrue(Precision.emulated(ZEN3, "none").contains("no bfloat16 instructions"));
        assertNull(Precision.emulated(ZEN5, "none"));
        assertNull(Precision.emulated(ZEN5, "AVX512_CORE_BF16"));
        assertNull(Precision.emulated(Set.of("amx_bf16", "avx512f"), "none"));
        assertTrue(Precision.emulated(ZEN5, "AVX2").contains("capped at AVX2"));
        assertTrue(Precision.emulated(ZEN5, "AVX512_CORE").contains("capped at AVX512_CORE"));
    }

    @Test
    void emulatedBfloat16IsRefusedUnlessAllowed() {
        Precision refused = Precision.choose(null, "this CPU has no bfloat16 instructions (avx512_bf16 or AMX)", false);
        assertEquals("float32", refused.used());
        assertTrue(refused.reason().contains("many times slower"), refused.reason());
        assertTrue(refused.reason().contains(Precision.ALLOW + "=allow"), refused.reason());
        Precision allowed = Precision.choose(null, "this CPU has no bfloat16 instructions (avx512_bf16 or AMX)", true);
        assertEquals("bfloat16", allowed.used(), String.valueOf(allowed.reason()));
    }
}
