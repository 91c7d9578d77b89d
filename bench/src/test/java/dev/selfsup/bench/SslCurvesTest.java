package dev.selfsup.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SslCurvesTest {
    @TempDir
    Path dir;

    @Test
    void calibrationFillsTheBudgetWithStepsAndEpochPreparations() {
        // DeepCluster as measured: 234 steps of 0.279 s and 25.5 s of clustering per epoch, 359 s to fill.
        var c = new SslCurves.Calibration(0.279, 25.5, 234);
        long steps = c.steps(359);
        double seconds = steps * 0.279 + (double) steps / 234 * 25.5;
        assertTrue(Math.abs(seconds - 359) < 0.5, "fills the budget: " + seconds);
        assertEquals(925, steps);
        // Without preparation, the budget over the step.
        assertEquals(1000, new SslCurves.Calibration(0.1, 0, 50).steps(100.05));
    }

    @Test
    void theReportDrawsBothPicturesAndATableOfTheLastRunOfEachLabel() throws Exception {
        String cpu = "\"cpu\":\"Test CPU (AVX2)\"";
        List<String> lines = List.of(
                "{\"kind\":\"baseline\",\"name\":\"raw pixels\",\"knn\":0.7885,\"linear\":0.8448," + cpu + "}",
                point("simclr", 60, 25600, 0.70),
                run("simclr", 0.70, 0.80),
                // The same label again: the report keeps this run, not the first.
                point("simclr", 60, 25600, 0.78),
                point("simclr", 120, 51200, 0.80),
                run("simclr", 0.80, 0.86),
                point("rotation", 90, 20000, 0.79),
                point("rotation", 180, 40000, 0.82),
                run("rotation", 0.82, 0.85),
                "{\"kind\":\"skipped\",\"method\":\"colorization\",\"label\":\"colorization\","
                        + "\"reason\":\"needs colour images\"}");
        Path file = dir.resolve("curves.jsonl");
        Files.write(file, lines);
        CurveReport.write(file, dir);
        String table = Files.readString(dir.resolve("table.md"));
        List<String> rows = table.lines().filter(l -> l.startsWith("| ")).toList();
        assertTrue(rows.get(2).startsWith("| rotation |"), "sorted by kNN, best first: " + table);
        assertTrue(rows.get(3).contains("| 80.00% | 86.00% |"), "simclr's last run: " + table);
        assertFalse(table.contains("70.00%"), "the first simclr run is replaced: " + table);
        assertTrue(table.contains("| raw pixels (baseline) |"), table);
        assertTrue(table.contains("| colorization | not run: needs colour images |"), table);
        assertTrue(table.contains("CPU: Test CPU (AVX2)"), table);
        for (String png : List.of("curves-time.png", "curves-images.png")) {
            BufferedImage img = ImageIO.read(dir.resolve(png).toFile());
            assertEquals(1100, img.getWidth(), png);
            assertTrue(distinctColours(img) > 5, png + " has lines drawn on it");
        }
    }

    private static long distinctColours(BufferedImage img) {
        return java.util.stream.IntStream.range(0, img.getWidth() * img.getHeight())
                .map(i -> img.getRGB(i % img.getWidth(), i / img.getWidth()))
                .distinct()
                .count();
    }

    private static String point(String label, double seconds, long images, double knn) {
        return String.format(
                java.util.Locale.ROOT,
                "{\"kind\":\"point\",\"method\":\"%s\",\"label\":\"%s\",\"seconds\":%.1f,\"steps\":%d,"
                        + "\"images_seen\":%d,\"knn\":%.4f}",
                label,
                label,
                seconds,
                images / 256,
                images,
                knn);
    }

    private static String run(String label, double knn, double linear) {
        return String.format(
                java.util.Locale.ROOT,
                "{\"kind\":\"run\",\"method\":\"%s\",\"label\":\"%s\",\"backbone\":\"small-convnet(width=32)\","
                        + "\"batch_size\":256,\"epochs\":1.5,\"train_seconds\":125.0,\"images_per_second\":500,"
                        + "\"knn\":%.4f,\"linear\":%.4f,\"peak_rss_bytes\":1500000000}",
                label,
                label,
                knn,
                linear);
    }
}
