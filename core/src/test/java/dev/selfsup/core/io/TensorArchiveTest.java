package dev.selfsup.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.train.CheckpointStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The checkpoint file format: round trip, truncation and corruption are detected, no temp files left. */
class TensorArchiveTest {
    @TempDir
    Path dir;

    @Test
    void roundTripsAndDetectsDamage() throws IOException {
        Path f = dir.resolve("a.ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, TensorArchive.Tensor> t = new LinkedHashMap<>();
            t.put("w", TensorArchive.Tensor.of(m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3))));
            t.put("step", TensorArchive.Tensor.of(m.create(new long[] {7})));
            TensorArchive.write(f, "{\"kind\":\"test\"}", t);
            TensorArchive.Contents c = TensorArchive.read(f);
            assertEquals("{\"kind\":\"test\"}", c.header());
            var back = m.zeros(new Shape(2, 3));
            c.tensors().get("w").copyInto(back, "w");
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, back.toFloatArray());
            assertThrows(
                    IllegalArgumentException.class, () -> c.tensors().get("w").copyInto(m.zeros(new Shape(3, 2)), "w"));
        }
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count(), "no temporary file is left behind");
        }
        byte[] bytes = Files.readAllBytes(f);
        Path cut = Files.write(dir.resolve("cut.ckpt"), Arrays.copyOf(bytes, bytes.length - 20));
        IOException e = assertThrows(IOException.class, () -> TensorArchive.read(cut));
        assertTrue(e.getMessage().contains("cut.ckpt"), e.getMessage());
        byte[] flipped = bytes.clone();
        flipped[bytes.length / 2] ^= 0x10;
        Path bad = Files.write(dir.resolve("bad.ckpt"), flipped);
        IOException e2 = assertThrows(IOException.class, () -> TensorArchive.read(bad));
        assertTrue(e2.getMessage().contains("checksum") || e2.getMessage().contains("corrupt"), e2.getMessage());
    }

    @Test
    void aStoreRemovesWhatKilledWritesLeftAndNothingElse() throws IOException {
        Path ckpt = dir.resolve("checkpoints");
        Files.createDirectories(ckpt);
        Path good = Files.writeString(ckpt.resolve("step-0000000004.ckpt"), "x");
        Path other = Files.writeString(ckpt.resolve("notes.tmp"), "not ours: not hidden");
        Path left = Files.writeString(ckpt.resolve(".step-0000000008.ckpt1234567.tmp"), "half a checkpoint");
        new CheckpointStore(ckpt, 2);
        assertTrue(Files.exists(good) && Files.exists(other));
        assertTrue(Files.notExists(left), "the killed write's temporary file is removed when the store opens");
        Path made = AtomicFiles.tempBeside(ckpt.resolve("step-0000000012.ckpt"));
        assertTrue(made.getFileName().toString().matches("\\.step-0000000012\\.ckpt\\d+\\.tmp"), made.toString());
        assertEquals(1, AtomicFiles.removeLeftovers(ckpt));
    }

    @Test
    void checkpointsThatAreAllCorruptAreReportedNotSkipped() throws IOException {
        Path ckpt = dir.resolve("run");
        var store = new CheckpointStore(ckpt, 2);
        assertTrue(store.latestUsable().isEmpty(), "no checkpoint yet: nothing to resume, no error");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, TensorArchive.Tensor> t = new LinkedHashMap<>();
            t.put("w", TensorArchive.Tensor.of(m.create(new float[] {1, 2, 3})));
            TensorArchive.write(store.fileFor(4), "{}", t);
            TensorArchive.write(store.fileFor(8), "{}", t);
        }
        assertEquals(store.fileFor(8), store.latestUsable().orElseThrow().file());
        for (long step : new long[] {4, 8}) {
            byte[] b = Files.readAllBytes(store.fileFor(step));
            b[b.length - 6] ^= 1;
            Files.write(store.fileFor(step), b);
        }
        var e = assertThrows(CheckpointStore.NoUsableCheckpointException.class, store::latestUsable);
        assertTrue(
                e.getMessage().contains("step-0000000008.ckpt: checksum mismatch")
                        && e.getMessage().contains("step-0000000004.ckpt"),
                e.getMessage());
        assertTrue(!e.getMessage().contains(dir.toString()), "file names, not server paths: " + e.getMessage());
    }
}
