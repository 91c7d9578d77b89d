package dev.selfsup.core.engine;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.util.cuda.CudaUtils;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.numerics.NumericsGuard;
import dev.selfsup.core.numerics.NumericsReport;

/**
 * The deep-learning engine as this process sees it. Loading it is what makes a selfsup service ready.
 *
 * @param engine engine name and version, e.g. "PyTorch 2.3.1"
 * @param djlVersion the DJL version
 * @param selfsupVersion the selfsup version
 * @param device the device work runs on by default
 * @param gpuCount GPUs the engine sees
 * @param cpu the CPU, e.g. "AMD EPYC (family 25, model 1, AVX2)"
 * @param cpuIsa the widest instruction set oneDNN may use, and the policy that chose it, e.g. "AVX2 (policy safe)"
 * @param numericsCheck the numerics self-check's one-line result
 * @param flavor the libtorch flavour loaded: "cpu" or a CUDA one such as "cu121"
 * @param cudaVersion the CUDA runtime version the engine reports when it sees a GPU, else ""
 * @param driverVersion the NVIDIA driver version visible to the process, else ""
 */
public record EngineInfo(
        String engine,
        String djlVersion,
        String selfsupVersion,
        String device,
        int gpuCount,
        String cpu,
        String cpuIsa,
        String numericsCheck,
        String flavor,
        String cudaVersion,
        String driverVersion) {
    /**
     * Loads the engine (first call: extracts the native library, a few seconds, and runs the numerics
     * self-check) and describes it.
     *
     * @throws dev.selfsup.core.numerics.NumericsCheckFailedException when the engine computes wrongly here
     */
    public static EngineInfo current(String devicePreference) {
        NumericsReport check = NumericsGuard.verify();
        Engine e = Engine.getInstance();
        Device d = Devices.choose(devicePreference);
        GpuReport gpu = GpuReport.current();
        return new EngineInfo(
                Versions.engine(),
                Versions.djl(),
                Versions.selfsup(),
                d.toString(),
                e.getGpuCount(),
                check.cpu(),
                check.isa(),
                check.summary(),
                gpu.flavor(),
                e.getGpuCount() > 0 ? CudaUtils.getCudaVersionString() : "",
                gpu.driverVersion());
    }

    /**
     * Prints the engine as JSON. Container builds run it once so that the native library is extracted into the
     * image and a container starts without that step.
     */
    public static void main(String[] args) {
        System.out.println(Json.write(current(args.length > 0 ? args[0] : "auto")));
    }
}
