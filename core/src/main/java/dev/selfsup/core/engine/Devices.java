package dev.selfsup.core.engine;

import ai.djl.Device;
import ai.djl.engine.Engine;
import dev.selfsup.core.numerics.NumericsGuard;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the training device: a GPU when there is one (and it is wanted), the CPU otherwise. Every path that
 * trains or serves comes through here first, so this is where the engine's numerics are verified.
 */
public final class Devices {
    private static final Logger LOG = LoggerFactory.getLogger(Devices.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private Devices() {}

    /**
     * @param preference "auto", "cpu" or "gpu" (or "gpu:N")
     * @throws dev.selfsup.core.numerics.NumericsCheckFailedException when the engine computes wrongly on this CPU
     */
    public static Device choose(String preference) {
        NumericsGuard.verify();
        String p = preference == null
                ? "auto"
                : preference.toLowerCase(Locale.ROOT).trim();
        int gpus = Engine.getInstance().getGpuCount();
        if (p.isEmpty() || "auto".equals(p)) {
            if (gpus == 0 && WARNED.compareAndSet(false, true)) {
                GpuReport r = GpuReport.current();
                if (r.cudaBuild()) {
                    // A CUDA build on a host where no GPU is usable: one warning, with the reason, then the CPU.
                    LOG.warn(
                            "the {} build sees no usable GPU, so it runs on the CPU: {}",
                            r.flavor(),
                            r.explainNoGpu("gpu", 0));
                }
            }
            return gpus > 0 ? Device.gpu(0) : Device.cpu();
        }
        if ("cpu".equals(p)) {
            return Device.cpu();
        }
        if (p.startsWith("gpu")) {
            int id = p.contains(":") ? Integer.parseInt(p.substring(p.indexOf(':') + 1)) : 0;
            if (id >= gpus) {
                throw new IllegalStateException(GpuReport.current().explainNoGpu(p, gpus));
            }
            return Device.gpu(id);
        }
        throw new IllegalArgumentException("device must be auto, cpu or gpu, got '" + preference + "'");
    }
}
