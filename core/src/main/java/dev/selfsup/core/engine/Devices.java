package dev.selfsup.core.engine;

import ai.djl.Device;
import ai.djl.engine.Engine;
import dev.selfsup.core.numerics.NumericsGuard;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
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
    private static final AtomicBoolean CPU_REPLICAS_NOTED = new AtomicBoolean();

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
                            "the {} build sees no usable GPU, so it loaded the {} libtorch it also carries and runs on "
                                    + "the CPU: {}",
                            r.cudaFlavor(),
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

    /**
     * The device of worker rank {@code rank}: with "auto" or "gpu" and GPUs visible, GPU {@code rank} modulo their
     * number (ranks on one host share its GPUs out; a pod that sees one GPU uses it); else {@link #choose}. A
     * preference naming a GPU ("gpu:N") is kept as it is.
     */
    public static Device forRank(String preference, int rank) {
        Device d = choose(preference);
        String p = preference == null
                ? "auto"
                : preference.toLowerCase(Locale.ROOT).trim();
        boolean named = p.startsWith("gpu:");
        return d.isGpu() && !named ? Device.gpu(rank % Engine.getInstance().getGpuCount()) : d;
    }

    /**
     * One device per data-parallel replica: {@link #choose} for the first, then the GPUs after it, or the CPU
     * again for every replica when the first is the CPU (replicas on one CPU share its cores: they split the batch
     * but run no faster; they exist to prove a multi-GPU setup on a machine without GPUs).
     *
     * @throws IllegalStateException when there are fewer GPUs than replicas, naming how many there are
     */
    public static List<Device> chooseAll(String preference, int replicas) {
        Device first = choose(preference);
        if (replicas <= 1) {
            return List.of(first);
        }
        if (first.isGpu()) {
            int gpus = Engine.getInstance().getGpuCount();
            int start = first.getDeviceId();
            if (start + replicas > gpus) {
                throw new IllegalStateException("replicas: " + replicas + " replicas from GPU " + start + " need "
                        + (start + replicas) + " GPUs, but the engine sees " + gpus + "; set replicas to at most "
                        + Math.max(1, gpus - start));
            }
            List<Device> all = new ArrayList<>(replicas);
            for (int i = 0; i < replicas; i++) {
                all.add(Device.gpu(start + i));
            }
            return List.copyOf(all);
        }
        if (CPU_REPLICAS_NOTED.compareAndSet(false, true)) {
            LOG.info(
                    "{} data-parallel replicas on the CPU share its cores: the batch is split, nothing runs faster",
                    replicas);
        }
        return Collections.nCopies(replicas, Device.cpu());
    }
}
