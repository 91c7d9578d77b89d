package dev.selfsup.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The upload's progress as a log or a pipe sees it: a line per 5%, the full bar once, with every file counted. */
class UploadProgressTest {
    @Test
    void aPipeGetsOneLinePerTwentiethAndTheFullBarOnce() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        int files = 40;
        long size = 1000;
        DatasetCommands.Progress progress = new DatasetCommands.Progress(files, files * size, out, false);
        for (int f = 0; f < files; f++) {
            for (int chunk = 0; chunk < 4; chunk++) {
                progress.sent(size / 4);
            }
            progress.file();
        }
        progress.done();
        List<String> lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
        String all = String.join("\n", lines);
        long fullBars = lines.stream()
                .filter(l -> l.startsWith("[" + "#".repeat(30) + "]"))
                .count();
        assertEquals(1, fullBars, all);
        assertTrue(lines.get(lines.size() - 1).startsWith("[" + "#".repeat(30) + "] 40/40 files"), all);
        // one line as each twentieth of the bytes is begun (0%, 5%, ... 95%), then the full bar from done()
        assertEquals(21, lines.size(), all);
    }
}
