package dev.selfsup.core.workers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.DatasetSource;
import dev.selfsup.core.data.ReadOptions;
import dev.selfsup.core.parallel.Rendezvous;
import dev.selfsup.core.train.PretrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The job every worker reads: written by the service and read back the same; written by hand with defaults. */
class WorkerJobTest {
    @TempDir
    Path dir;

    @Test
    void aWrittenJobReadsBackAsTheSameRun() throws Exception {
        PretrainConfig c = PretrainConfig.defaults("moco-v2").toBuilder()
                .workers(2)
                .steps(123)
                .learningRate(0.0125f)
                .setting("queue_size", 512)
                .checkpointDir(dir.resolve("ckpt"))
                .build();
        DatasetSource source = new DatasetSource(
                dir.resolve("data"), DatasetLoader.Format.IDX, "train", 1, 28, 500, new ReadOptions(1 << 20, 3));
        Path file = dir.resolve("job.json");
        WorkerJob.of(c, source, new float[] {0.3f}, new float[] {0.2f}, Rendezvous.parse("redis://r:7000", "p"), 5, 7)
                .write(file);
        WorkerJob back = WorkerJob.read(file);
        assertEquals(c, back.config());
        assertEquals(source.dir().toAbsolutePath(), back.source().dir());
        assertEquals(source.limit(), back.source().limit());
        assertEquals(source.options(), back.source().options());
        assertEquals(new Rendezvous("redis", "r", 7000, "p"), back.rendezvous());
        assertEquals(7, back.timeoutSeconds());
    }

    @Test
    void aJobWrittenByHandTakesTheDefaultsAndRefusesUnknownFields() throws Exception {
        Path file = dir.resolve("hand.json");
        Files.writeString(file, """
                {"method": "simclr", "training": {"workers": 2, "steps": 50, "batch_norm": "per-device"},
                 "dataset": "/data/fashion-mnist", "checkpointDir": "/shared/ckpt"}
                """);
        WorkerJob job = WorkerJob.read(file);
        assertEquals(2, job.config().workers());
        assertEquals(50, job.config().steps());
        assertEquals("train", job.source().split());
        assertEquals(DatasetLoader.Format.AUTO, job.source().format());
        assertEquals(WorkerJob.DEFAULT_TIMEOUT_SECONDS, job.timeoutSeconds());
        assertNull(job.mean(), "each rank computes the statistics");
        assertNull(job.store());
        WorkerJob placed = job.withRendezvous("file:/shared/rendezvous", "run-7");
        assertEquals(Rendezvous.folder(Path.of("/shared/rendezvous"), "run-7"), placed.rendezvous());

        Files.writeString(file, """
                {"method": "simclr", "trainnig": {"workers": 2}, "dataset": "/data"}
                """);
        UnrecognizedPropertyException e = assertThrows(UnrecognizedPropertyException.class, () -> WorkerJob.read(file));
        assertTrue(e.getMessage().contains("trainnig"), e.getMessage());
    }
}
