package dev.selfsup.trainer;

import ai.djl.util.cuda.CudaUtils;
import dev.selfsup.proto.v1.RunState;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The trainer's Prometheus metrics (at /q/metrics). Per run, labelled {@code run} and {@code method}:
 * selfsup_training_images_total, selfsup_training_images_per_second, selfsup_training_step_seconds,
 * selfsup_training_data_wait_seconds, selfsup_training_loss, selfsup_training_learning_rate,
 * selfsup_training_epoch, selfsup_training_checkpoint_write_seconds. Overall: selfsup_training_runs{state}, and
 * on a GPU selfsup_training_device_memory_bytes{device}.
 * Startup so the run gauges exist before the first run.
 */
@Startup
@ApplicationScoped
public class TrainingMetrics {
    @Inject
    MeterRegistry registry;

    private final Map<RunState, AtomicInteger> runsByState = new EnumMap<>(RunState.class);
    private final Map<String, RunMeters> perRun = new ConcurrentHashMap<>();

    @PostConstruct
    void init() {
        for (RunState s : RunState.values()) {
            if (s == RunState.UNRECOGNIZED || s == RunState.RUN_STATE_UNSPECIFIED) {
                continue;
            }
            AtomicInteger n = new AtomicInteger();
            runsByState.put(s, n);
            // The gauge holds its object weakly: the map keeps it alive.
            Gauge.builder("selfsup.training.runs", n, AtomicInteger::get)
                    .tag("state", stateLabel(s))
                    .description("Runs in each state")
                    .register(registry);
        }
    }

    static String stateLabel(RunState s) {
        return s.name().substring("RUN_STATE_".length()).toLowerCase(Locale.ROOT);
    }

    /** Sets the counts of runs by state. */
    public void setRunCounts(Map<RunState, Integer> counts) {
        runsByState.forEach((s, n) -> n.set(counts.getOrDefault(s, 0)));
    }

    /** The meters of one run, created on first use. */
    public RunMeters run(String runId, String method) {
        return perRun.computeIfAbsent(runId, id -> new RunMeters(registry, Tags.of("run", id, "method", method)));
    }

    /**
     * Registers selfsup_training_device_memory_bytes{device} for a GPU (CUDA's used memory, read at each scrape).
     * A CPU has no such figure the engine can give, so nothing is registered for it.
     */
    public void watchDevice(ai.djl.Device device) {
        if (!device.isGpu() || !gpusWatched.add(device.toString())) {
            return;
        }
        Gauge.builder("selfsup.training.device.memory", device, d -> {
                    try {
                        return CudaUtils.getGpuMemory(d).getUsed();
                    } catch (RuntimeException e) {
                        return Double.NaN;
                    }
                })
                .tag("device", device.toString())
                .baseUnit("bytes")
                .description("Device memory in use (CUDA)")
                .strongReference(true)
                .register(registry);
    }

    private final Set<String> gpusWatched = ConcurrentHashMap.newKeySet();

    /** The meters of one run. */
    public static final class RunMeters {
        final Counter images;
        final Timer stepTime;
        final Timer dataWait;
        final Timer checkpointWrite;
        volatile double imagesPerSecond;
        volatile double loss = Double.NaN;
        volatile double learningRate;
        volatile double epoch;
        volatile double workerSlowestStep = Double.NaN;
        volatile double workerCollectiveShare = Double.NaN;
        volatile double workerCollectiveBytes = Double.NaN;
        private final MeterRegistry registry;
        private final Tags tags;
        private boolean workerGauges;

        RunMeters(MeterRegistry r, Tags tags) {
            this.registry = r;
            this.tags = tags;
            images = Counter.builder("selfsup.training.images")
                    .tags(tags)
                    .description("Training images processed (each source image once per step)")
                    .register(r);
            stepTime = Timer.builder("selfsup.training.step")
                    .tags(tags)
                    .description("Wall time of a training step")
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofSeconds(60))
                    .register(r);
            dataWait = Timer.builder("selfsup.training.data.wait")
                    .tags(tags)
                    .description("Time a step waited for its batch")
                    .publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofNanos(1000))
                    .maximumExpectedValue(Duration.ofSeconds(60))
                    .register(r);
            checkpointWrite = Timer.builder("selfsup.training.checkpoint.write")
                    .tags(tags)
                    .description("Time to write a checkpoint")
                    .register(r);
            gauge(r, "selfsup.training.images.per.second", tags, () -> imagesPerSecond, "Training throughput");
            gauge(r, "selfsup.training.loss", tags, () -> loss, "Mean loss over the last progress interval");
            gauge(r, "selfsup.training.learning.rate", tags, () -> learningRate, "Current learning rate");
            gauge(r, "selfsup.training.epoch", tags, () -> epoch, "Epochs done");
        }

        private void gauge(MeterRegistry r, String name, Tags tags, Supplier<Number> f, String help) {
            Gauge.builder(name, f)
                    .tags(tags)
                    .description(help)
                    .strongReference(true)
                    .register(r);
        }

        /**
         * A progress report of a run trained by worker processes: the slowest rank's seconds per step, the share of
         * rank 0's step spent in collectives and the bytes it handed to them per step, as gauges from the first one.
         */
        synchronized void workers(java.util.Map<String, Double> metrics) {
            Double share = metrics.get("worker_collective_share");
            if (share == null) {
                return;
            }
            workerSlowestStep = metrics.getOrDefault("worker_step_seconds_slowest", Double.NaN);
            workerCollectiveShare = share;
            workerCollectiveBytes = metrics.getOrDefault("worker_collective_mb_per_step", Double.NaN) * 1e6;
            if (!workerGauges) {
                workerGauges = true;
                gauge(
                        registry,
                        "selfsup.training.workers.step.seconds.slowest",
                        tags,
                        () -> workerSlowestStep,
                        "Worker processes: the slowest rank's seconds per step over the last progress interval");
                gauge(
                        registry,
                        "selfsup.training.workers.collective.share",
                        tags,
                        () -> workerCollectiveShare,
                        "Worker processes: share of rank 0's step spent in collectives (waiting for peers included)");
                gauge(
                        registry,
                        "selfsup.training.workers.collective.bytes.per.step",
                        tags,
                        () -> workerCollectiveBytes,
                        "Worker processes: bytes rank 0 hands to collectives per step");
            }
        }

        void step(double seconds, double waitSeconds, int batch) {
            images.increment(batch);
            stepTime.record(Duration.ofNanos((long) (seconds * 1e9)));
            dataWait.record(Duration.ofNanos((long) (waitSeconds * 1e9)));
        }
    }
}
