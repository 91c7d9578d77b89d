package dev.selfsup.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident memory of this process from /proc (Linux): current and peak, in bytes. */
final class ProcessMemory {
    private ProcessMemory() {}

    static long rssBytes() {
        return field("self", "VmRSS:");
    }

    static long peakRssBytes() {
        return field("self", "VmHWM:");
    }

    /** Another process's peak so far, or -1 once it has gone. */
    static long peakRssBytes(long pid) {
        return field(Long.toString(pid), "VmHWM:");
    }

    private static long field(String process, String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + process + "/status"))) {
                if (line.startsWith(name)) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
