package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.RunState;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A trainer whose run registry cannot be written still starts, and serves its runs read-only. */
class RunManagerReadOnlyTest {
    @TempDir
    Path var;

    @Test
    void aRegistryThatCannotBeWrittenIsServedReadOnly() {
        RunStore disk = new RunStore();
        disk.varDir = var;
        disk.save(Run.newBuilder()
                .setRunId("aaaa1111")
                .setState(RunState.RUN_STATE_RUNNING)
                .setSpec(RunSpec.newBuilder().setMethod(Method.METHOD_SIMCLR))
                .build());
        // What a read-only or full disk does to every write; as root, permissions would not stop one.
        RunStore readOnly = new RunStore() {
            @Override
            public synchronized void save(Run run) {
                throw new UncheckedIOException(
                        "cannot save run " + run.getRunId(), new IOException("Read-only file system"));
            }

            @Override
            public boolean writable() {
                return false;
            }
        };
        readOnly.varDir = var;
        TrainingMetrics metrics = new TrainingMetrics();
        metrics.registry = new SimpleMeterRegistry();
        metrics.init();
        RunTable table = new RunTable();
        table.store = readOnly;
        table.metrics = metrics;
        RunAdmission admission = new RunAdmission();
        admission.maxSteps = 1000;
        admission.maxEpochs = 10;
        admission.maxBatchSize = 256;
        admission.maxWidth = 64;
        admission.maxDepth = 4;
        admission.maxWorkers = 4;
        RunManager manager = new RunManager();
        manager.store = readOnly;
        manager.table = table;
        manager.admission = admission;
        manager.execution = new RunExecution();
        manager.workers = 1;
        manager.maxQueuedRuns = 16;
        manager.onStart(null); // it held a RUNNING run it cannot mark INTERRUPTED on disk: it starts anyway
        try {
            Run r = manager.get("aaaa1111");
            assertEquals(RunState.RUN_STATE_INTERRUPTED, r.getState(), "listed as it will be after the next start");
            StatusRuntimeException e = assertThrows(
                    StatusRuntimeException.class,
                    () -> manager.start(RunSpec.newBuilder()
                            .setSteps(5)
                            .setBatchSize(32)
                            .setWidth(8)
                            .build()));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            assertTrue(
                    e.getStatus().getDescription().contains("read-only"),
                    e.getStatus().getDescription());
            assertFalse(e.getStatus().getDescription().contains(var.toString()), "no server path in an answer");
        } finally {
            manager.onStop(null);
        }
    }
}
