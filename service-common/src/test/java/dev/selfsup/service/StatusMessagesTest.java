package dev.selfsup.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** grpc-message is percent-encoded as the gRPC protocol says, not as a URL. */
class StatusMessagesTest {
    @Test
    void onlyBytesOutsidePrintableAsciiAndPercentAreEncoded() {
        assertEquals(
                "no model named 'x'; publish one, or see docs/limits.md: 100%25 sure",
                StatusMessages.encode("no model named 'x'; publish one, or see docs/limits.md: 100% sure"));
        assertEquals("caf%C3%A9 %E2%80%94 tab%09", StatusMessages.encode("café — tab\t"));
    }

    @Test
    void longQuotedValuesAndLongMessagesAreCut() {
        String id = "r".repeat(10_000);
        String m = StatusMessages.shortened("no run '" + id + "'; list them with ListRuns");
        assertEquals("no run '" + "r".repeat(100) + "...' (10000 characters); list them with ListRuns", m);
        String fine = "no model named 'fashion'";
        assertEquals(fine, StatusMessages.shortened(fine));
        String unquoted = StatusMessages.shortened("x".repeat(5000));
        assertTrue(unquoted.length() <= 1000, unquoted);
        assertTrue(unquoted.endsWith("(message cut from 5000 characters)"), unquoted);
    }
}
