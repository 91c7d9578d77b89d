package dev.selfsup.core.numerics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * The CPU this process runs on, as the kernel describes it: enough to name it in an error message and to know
 * which vector instruction sets it has.
 *
 * @param model the model name, e.g. "AMD EPYC 9B45"
 * @param family the CPU family (25 is AMD Zen 3/4, 26 is Zen 5), -1 when unknown
 * @param modelNumber the model number within the family, -1 when unknown
 * @param flags the instruction-set flags, lower case
 */
public record CpuInfo(String model, int family, int modelNumber, Set<String> flags) {
    private static final Path CPUINFO = Path.of("/proc/cpuinfo");

    /** The CPU of this machine; on a system without {@code /proc/cpuinfo} a description with no flags. */
    public static CpuInfo current() {
        try {
            return parse(Files.readAllLines(CPUINFO));
        } catch (IOException | RuntimeException e) {
            return new CpuInfo(System.getProperty("os.arch", "unknown"), -1, -1, Set.of());
        }
    }

    /** Reads the first processor's block of a {@code /proc/cpuinfo} text. */
    static CpuInfo parse(List<String> lines) {
        String model = "unknown";
        int family = -1;
        int number = -1;
        Set<String> flags = new TreeSet<>();
        for (String line : lines) {
            if (line.isBlank() && !flags.isEmpty()) {
                break;
            }
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).trim();
            String value = line.substring(colon + 1).trim();
            switch (key) {
                case "model name" -> model = value;
                case "cpu family" -> family = parseInt(value);
                case "model" -> number = parseInt(value);
                case "flags" ->
                    flags.addAll(Arrays.asList(value.toLowerCase(Locale.ROOT).split("\\s+")));
                default -> {}
            }
        }
        return new CpuInfo(model, family, number, Set.copyOf(flags));
    }

    private static int parseInt(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Whether the CPU has the AVX-512 foundation instructions. */
    public boolean hasAvx512() {
        return flags.contains("avx512f");
    }

    /** The widest vector instruction set the CPU has, as a short name: AVX-512, AVX2, AVX or SSE. */
    public String widestVectorIsa() {
        if (hasAvx512()) {
            return "AVX-512";
        }
        if (flags.contains("avx2")) {
            return "AVX2";
        }
        return flags.contains("avx") ? "AVX" : "SSE";
    }

    /** A one-line description for logs and error messages, e.g. "AMD EPYC (family 26, model 2, AVX-512)". */
    public String describe() {
        return model + " (family " + family + ", model " + modelNumber + ", " + widestVectorIsa() + ")";
    }
}
