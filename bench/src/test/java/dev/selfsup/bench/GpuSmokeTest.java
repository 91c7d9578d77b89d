package dev.selfsup.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** deploy/gpu-smoke's CPU path, small: one device then two CPU replicas, one line with both runs. */
class GpuSmokeTest {
    @Test
    void theCpuPathTrainsOnOneDeviceThenOnReplicasAndReportsBoth() throws Exception {
        GpuSmoke smoke = new GpuSmoke();
        new CommandLine(smoke)
                .parseArgs(
                        "--steps",
                        "1",
                        "--warmup-steps",
                        "1",
                        "--batch-per-device",
                        "4",
                        "--backbone",
                        "small-convnet");
        Map<String, Object> line = smoke.measure();
        assertEquals(0, line.get("gpus"));
        assertEquals("cpu", line.get("device"));
        assertEquals("cpu", line.get("flavor"));
        assertEquals("generated-32px", line.get("data"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> runs = (List<Map<String, Object>>) line.get("runs");
        assertEquals(2, runs.size());
        assertEquals(1, runs.get(0).get("replicas"));
        assertEquals(2, runs.get(1).get("replicas"));
        assertEquals(8, runs.get(1).get("batch"));
        for (Map<String, Object> r : runs) {
            assertTrue((double) r.get("images_per_second") > 0, r.toString());
            assertTrue(Double.isFinite((double) r.get("loss")), r.toString());
            assertTrue((long) r.get("peak_rss_bytes") > 0, r.toString());
        }
        double efficiency = (double) line.get("scaling_efficiency");
        assertTrue(efficiency > 0, "efficiency " + efficiency);
    }
}
