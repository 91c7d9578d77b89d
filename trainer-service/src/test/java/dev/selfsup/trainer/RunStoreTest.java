package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The run registry on real files: a record carries its checksum, and a changed record is not served as truth. */
class RunStoreTest {
    @TempDir
    Path var;

    private RunStore store() {
        RunStore s = new RunStore();
        s.varDir = var;
        return s;
    }

    private static Run run(String id) {
        return Run.newBuilder()
                .setRunId(id)
                .setName("kept")
                .setState(RunState.RUN_STATE_SUCCEEDED)
                .setStep(40)
                .build();
    }

    @Test
    void aChangedByteIsCaughtAndTheRunIsListedAsFailed() throws IOException {
        RunStore s = store();
        s.save(run("aaaa1111"));
        s.save(run("bbbb2222"));
        Path f = s.runDir("bbbb2222").resolve("run.pb");
        byte[] bytes = Files.readAllBytes(f);
        bytes[bytes.length - 1] ^= 0x01; // the last byte of the message: the step, 40 becomes 41
        Files.write(f, bytes);

        List<RunStore.Loaded> loaded = s.loadAll();
        assertEquals(2, loaded.size());
        RunStore.Loaded good = loaded.stream()
                .filter(l -> l.run().getRunId().equals("aaaa1111"))
                .findFirst()
                .orElseThrow();
        assertNull(good.problem(), "the intact record is read as it is");
        assertEquals(run("aaaa1111"), good.run());
        RunStore.Loaded bad = loaded.stream()
                .filter(l -> l.run().getRunId().equals("bbbb2222"))
                .findFirst()
                .orElseThrow();
        assertEquals(RunState.RUN_STATE_FAILED, bad.run().getState());
        assertTrue(
                bad.run().getError().contains("failed its checksum"), bad.run().getError());
        assertEquals(0, bad.run().getStep(), "nothing of the changed record is served");
        assertTrue(Files.exists(f), "the file is left for the operator");
    }

    @Test
    void recordsWithoutAChecksumFromEarlierVersionsStillRead() throws IOException {
        Files.createDirectories(var.resolve("runs/cccc3333"));
        Files.write(var.resolve("runs/cccc3333/run.pb"), run("cccc3333").toByteArray());
        List<RunStore.Loaded> loaded = store().loadAll();
        assertEquals(run("cccc3333"), loaded.get(0).run());
        assertNull(loaded.get(0).problem());
    }

    @Test
    void garbageAndTruncatedRecordsAreReportedNotParsed() throws IOException {
        RunStore s = store();
        s.save(run("dddd4444"));
        Path f = s.runDir("dddd4444").resolve("run.pb");
        Files.write(f, Arrays.copyOf(Files.readAllBytes(f), RunStore.MAGIC.length + 10));
        Files.createDirectories(var.resolve("runs/eeee5555"));
        Files.writeString(var.resolve("runs/eeee5555/run.pb"), "{not a run");
        for (RunStore.Loaded l : s.loadAll()) {
            assertEquals(RunState.RUN_STATE_FAILED, l.run().getState(), l.run().getRunId());
            assertTrue(l.problem() != null, l.run().getRunId());
        }
    }
}
