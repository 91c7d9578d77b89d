package dev.selfsup.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The causes of a missing GPU, each with its fix, decided without a GPU (the flavour and the driver forced). */
class GpuReportTest {
    @Test
    void aCpuBuildSaysItIsTheCpuBuild() {
        String m = new GpuReport("cpu", "", 0).explainNoGpu("gpu", 0);
        assertTrue(m.contains("this is the CPU build"), m);
        assertTrue(m.contains("Maven profile cuda"), m);
        assertTrue(m.contains("selfsup.device=auto"), m);
    }

    @Test
    void aCudaBuildWithoutADriverNamesTheContainerToolkitAndTheGpusFlag() {
        String m = new GpuReport("cu121", "", 0).explainNoGpu("gpu", 0);
        assertTrue(m.contains("no NVIDIA driver is visible"), m);
        assertTrue(m.contains("NVIDIA Container Toolkit"), m);
        assertTrue(m.contains("--gpus all"), m);
        assertTrue(m.contains("CPU image"), m);
    }

    @Test
    void aDriverTooOldForCuda121IsNamedWithTheVersionItNeeds() {
        GpuReport r = new GpuReport("cu121", "470.182.03", 1);
        assertEquals("12.1", r.cudaRuntime());
        String m = r.explainNoGpu("gpu", 0);
        assertTrue(m.contains("470.182.03 is too old for CUDA 12.1"), m);
        assertTrue(m.contains("525.60.13 or newer"), m);
    }

    @Test
    void aDriverWithoutDeviceNodesMeansTheContainerWasNotGivenTheGpus() {
        String m = new GpuReport("cu121", "535.104.05", 0).explainNoGpu("gpu", 0);
        assertTrue(m.contains("no /dev/nvidiaN device is visible"), m);
        String idx = new GpuReport("cu121", "535.104.05", 2).explainNoGpu("gpu:3", 2);
        assertTrue(idx.contains("CUDA_VISIBLE_DEVICES"), idx);
    }

    @Test
    void theCudaBuildOnAHostWithoutAGpuLoadsItsCpuFlavourAndStillKnowsItIsTheCudaBuild() {
        GpuReport r = new GpuReport("cpu", "", 0, List.of("cpu", "cu121"));
        assertTrue(r.cudaBuild());
        assertEquals("cu121", r.cudaFlavor());
        assertEquals("12.1", r.cudaRuntime());
        String m = r.explainNoGpu("gpu", 0);
        assertTrue(m.contains("to this cu121 build"), m);
        assertTrue(m.contains("NVIDIA Container Toolkit"), m);
    }

    @Test
    void theDriverVersionIsReadFromTheKernelModuleLine() {
        String proc = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
                + "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        assertEquals("535.104.05", GpuReport.driverVersion(proc));
        assertEquals("", GpuReport.driverVersion("nothing here"));
        assertTrue(GpuReport.compareVersions("525.60.13", "525.60.2") > 0);
        assertTrue(GpuReport.compareVersions("470.1", "525.60.13") < 0);
        assertEquals(0, GpuReport.compareVersions("12.1", "12.1.0"));
    }

    @Test
    void thisMachineRunsTheCpuBuildAndAskingForAGpuIsRefusedWithTheReason() {
        GpuReport here = GpuReport.current();
        assertEquals("cpu", here.flavor(), "the default build carries the CPU natives");
        assertEquals(List.of("cpu"), here.carried(), "and no others");
        assertFalse(here.cudaBuild());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Devices.choose("gpu"));
        assertTrue(e.getMessage().contains("this is the CPU build"), e.getMessage());
    }
}
