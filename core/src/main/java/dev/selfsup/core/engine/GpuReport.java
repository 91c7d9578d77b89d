package dev.selfsup.core.engine;

import ai.djl.util.Platform;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What this process can see of GPUs, read without loading the engine: the libtorch flavour on the classpath
 * ({@code cpu} or {@code cu121}), the NVIDIA driver the kernel exposes, and the GPU device nodes. Its
 * {@link #explainNoGpu} turns a GPU that was asked for and is not usable into a message that names the cause and the
 * fix: a container started without the GPU, a driver too old for the CUDA runtime, or a CPU build.
 *
 * @param flavor the libtorch flavour the engine loads here, e.g. "cpu" or "cu121" ("unknown" if none is found)
 * @param driverVersion the NVIDIA kernel driver's version, e.g. "535.104.05", or "" when no driver is visible
 * @param deviceNodes how many {@code /dev/nvidiaN} device nodes are visible
 * @param carried every libtorch flavour the build carries: the CPU build carries "cpu"; the CUDA build "cpu" and
 *     "cu121", and DJL loads the CUDA one only where it sees a usable GPU
 */
public record GpuReport(String flavor, String driverVersion, int deviceNodes, List<String> carried) {
    public GpuReport {
        carried = List.copyOf(carried);
    }

    /** A build that carries only the flavour it loads. */
    public GpuReport(String flavor, String driverVersion, int deviceNodes) {
        this(flavor, driverVersion, deviceNodes, List.of(flavor));
    }

    private static final Pattern DRIVER = Pattern.compile("Kernel Module\\s+(\\d+(?:\\.\\d+)+)");
    private static final Pattern NODE = Pattern.compile("nvidia\\d+");

    /**
     * Reads this machine: the libtorch flavours on the classpath and the one DJL picks here (the same choice its
     * loader makes), /proc/driver/nvidia/version and /dev/nvidia*.
     */
    public static GpuReport current() {
        String flavor;
        try {
            flavor = Platform.detectPlatform("pytorch").getFlavor();
        } catch (RuntimeException | AssertionError e) {
            flavor = "unknown";
        }
        List<String> carried = new ArrayList<>();
        try {
            Enumeration<URL> files = Thread.currentThread().getContextClassLoader() != null
                    ? Thread.currentThread().getContextClassLoader().getResources("native/lib/pytorch.properties")
                    : GpuReport.class.getClassLoader().getResources("native/lib/pytorch.properties");
            while (files.hasMoreElements()) {
                Properties p = new Properties();
                try (InputStream in = files.nextElement().openStream()) {
                    p.load(in);
                }
                String f = p.getProperty("flavor", "");
                if (!f.isEmpty() && !carried.contains(f)) {
                    carried.add(f);
                }
            }
        } catch (IOException e) {
            carried.clear();
        }
        if (flavor != null && !carried.contains(flavor)) {
            carried.add(flavor);
        }
        String driver = "";
        Path version = Path.of("/proc/driver/nvidia/version");
        try {
            if (Files.isReadable(version)) {
                driver = driverVersion(Files.readString(version));
            }
        } catch (IOException e) {
            driver = "";
        }
        int nodes = 0;
        try (Stream<Path> dev = Files.list(Path.of("/dev"))) {
            nodes = (int)
                    dev.filter(p -> NODE.matcher(p.getFileName().toString()).matches())
                            .count();
        } catch (IOException e) {
            nodes = 0;
        }
        return new GpuReport(flavor == null ? "unknown" : flavor, driver, nodes, carried);
    }

    /** The driver version in the text of /proc/driver/nvidia/version, or "" if it names none. */
    static String driverVersion(String procText) {
        Matcher m = DRIVER.matcher(procText);
        return m.find() ? m.group(1) : "";
    }

    /** True when the build carries a CUDA flavour such as "cu121", whichever flavour it loads here. */
    public boolean cudaBuild() {
        return !cudaFlavor().isEmpty();
    }

    /** The CUDA flavour the build carries, e.g. "cu121"; "" for the CPU build. */
    public String cudaFlavor() {
        return carried.stream().filter(f -> f.startsWith("cu")).findFirst().orElse("");
    }

    /** The CUDA runtime version of the build's CUDA flavour, e.g. "12.1" for "cu121"; "" for the CPU build. */
    public String cudaRuntime() {
        Matcher m = Pattern.compile("cu(\\d+)(\\d)").matcher(cudaFlavor());
        return m.lookingAt() ? m.group(1) + "." + m.group(2) : "";
    }

    /**
     * The oldest Linux driver that runs this CUDA flavour's runtime (NVIDIA's minor-version compatibility: 450.80.02
     * for any CUDA 11, 525.60.13 for any CUDA 12); "" when unknown.
     */
    public String minimumDriver() {
        String rt = cudaRuntime();
        if (rt.startsWith("11.")) {
            return "450.80.02";
        }
        if (rt.startsWith("12.")) {
            return "525.60.13";
        }
        return "";
    }

    /**
     * Why no GPU is usable although {@code requested} asked for one, and what to do about it.
     *
     * @param requested the device asked for (a run's device or the service's selfsup.device), e.g. "gpu" or "gpu:1"
     * @param enginesGpus the GPUs the engine sees (0 when it could not start on a GPU)
     */
    public String explainNoGpu(String requested, int enginesGpus) {
        String head = "device '" + requested + "' asks for a GPU, but ";
        String cpuImage = "or run the CPU image (or set selfsup.device=auto, which falls back to the CPU)";
        if (!cudaBuild()) {
            return head + "this is the CPU build (libtorch flavour '" + flavor + "'), which cannot use a GPU: use the "
                    + "CUDA build (Maven profile cuda, the CUDA container image), " + cpuImage;
        }
        if (driverVersion.isEmpty()) {
            return head + "no NVIDIA driver is visible (no /proc/driver/nvidia/version) to this " + cudaFlavor()
                    + " build: on a GPU host install the NVIDIA driver; in a container, install the NVIDIA Container "
                    + "Toolkit on the host and start the container with the GPUs (docker run --gpus all, or podman "
                    + "run --device nvidia.com/gpu=all), " + cpuImage;
        }
        String min = minimumDriver();
        if (!min.isEmpty() && compareVersions(driverVersion, min) < 0) {
            return head + "the NVIDIA driver " + driverVersion + " is too old for CUDA " + cudaRuntime() + " (it needs "
                    + min + " or newer): update the host's driver, " + cpuImage;
        }
        if (deviceNodes == 0) {
            return head + "the NVIDIA driver " + driverVersion + " is loaded but no /dev/nvidiaN device is visible: "
                    + "start the container with the GPUs (docker run --gpus all, or podman run --device "
                    + "nvidia.com/gpu=all), " + cpuImage;
        }
        return head + "the engine sees " + enginesGpus + " GPU(s) while the driver " + driverVersion + " and "
                + deviceNodes + " device node(s) are visible: check CUDA_VISIBLE_DEVICES and the GPU index asked for, "
                + cpuImage;
    }

    /** Compares dotted version numbers numerically, part by part. */
    static int compareVersions(String a, String b) {
        String[] x = a.split("\\.");
        String[] y = b.split("\\.");
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            long p = i < x.length ? parse(x[i]) : 0;
            long q = i < y.length ? parse(y[i]) : 0;
            if (p != q) {
                return Long.compare(p, q);
            }
        }
        return 0;
    }

    private static long parse(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
