package dev.selfsup.service;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
