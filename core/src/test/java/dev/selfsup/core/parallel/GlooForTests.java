package dev.selfsup.core.parallel;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The one rule for tests that need Gloo: where its headers are, the shim was built and must load; elsewhere skip. */
public final class GlooForTests {
    private GlooForTests() {}

    /** Fails if the shim was built here but does not load; skips the test where Gloo is not installed. */
    public static void require() {
        if (Files.exists(Path.of("/usr/include/gloo/allreduce.h"))) {
            assertNull(GlooCollective.unavailableReason(), "the Gloo shim was built but does not load");
        }
        assumeTrue(GlooCollective.available(), () -> "no Gloo here: " + GlooCollective.unavailableReason());
    }
}
