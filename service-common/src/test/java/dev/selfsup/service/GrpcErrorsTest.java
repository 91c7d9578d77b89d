package dev.selfsup.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** Every failure reaches the client as a status it can act on, without class names or server paths. */
class GrpcErrorsTest {
    @Test
    void statusesPassThroughAndWrappersAreOpened() {
        Status s = GrpcErrors.toStatus(new CompletionException(
                Status.NOT_FOUND.withDescription("no run x").asRuntimeException()));
        assertEquals(Status.Code.NOT_FOUND, s.getCode());
        assertEquals("no run x", s.getDescription());
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                GrpcErrors.toStatus(new IllegalArgumentException("batch_size: must be at least 2"))
                        .getCode());
    }

    @Test
    void storageFailuresAreUnavailableAndNameNoPath() {
        Status s = GrpcErrors.toStatus(
                new UncheckedIOException(new IOException("/srv/selfsup/var/runs/ab12/run.pb: Read-only file system")));
        assertEquals(Status.Code.UNAVAILABLE, s.getCode());
        assertFalse(s.getDescription().contains("/srv"), s.getDescription());
        assertFalse(s.getDescription().contains("Exception"), s.getDescription());
        assertTrue(s.getDescription().contains("error id "), s.getDescription());
    }

    @Test
    void bugsAreInternalWithAnIdNotAClassName() {
        Status s = GrpcErrors.toStatus(new NullPointerException("Cannot invoke \"dev.selfsup.X.y()\""));
        assertEquals(Status.Code.INTERNAL, s.getCode());
        assertTrue(
                s.getDescription().matches("internal error [0-9a-f]{8}; the server's log has the details"),
                s.getDescription());
    }
}
