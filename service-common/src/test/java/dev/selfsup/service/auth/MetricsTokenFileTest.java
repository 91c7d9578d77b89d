package dev.selfsup.service.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The metrics token file, as services that start at once on one volume make and read it. */
class MetricsTokenFileTest {
    @TempDir
    Path dir;

    @Test
    void servicesStartingAtOnceAllGetTheOneTokenInTheFile() throws Exception {
        for (int round = 0; round < 20; round++) {
            Path file = dir.resolve("round-" + round).resolve("token");
            ExecutorService pool = Executors.newFixedThreadPool(8);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<String>> got = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                got.add(pool.submit(() -> {
                    go.await();
                    return new String(MetricsAccess.readOrCreate(file), StandardCharsets.UTF_8);
                }));
            }
            go.countDown();
            String inFile = null;
            for (Future<String> f : got) {
                String t = f.get();
                if (inFile == null) {
                    inFile = Files.readString(file).trim();
                }
                assertEquals(inFile, t, "every service reads the token that is in the file");
            }
            pool.shutdown();
            try (var left = Files.list(file.getParent())) {
                assertEquals(List.of(file), left.toList(), "no temporary file left behind");
            }
        }
    }

    @Test
    void anEmptyFileIsRefusedWithItsSetting() throws Exception {
        Path file = dir.resolve("token");
        Files.writeString(file, "\n");
        var e = assertThrows(IllegalStateException.class, () -> MetricsAccess.readOrCreate(file));
        assertEquals("selfsup.metrics.token-file " + file + " is empty", e.getMessage());
    }
}
