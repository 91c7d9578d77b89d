package dev.selfsup.encoder;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The encoder-service's own Prometheus metrics (at /q/metrics): selfsup_encoder_images_total{model},
 * selfsup_encoder_queue_wait_seconds,
 * selfsup_encoder_batch_size_images, selfsup_encoder_batch_seconds, selfsup_encoder_queue_depth{model} (images),
 * selfsup_encoder_skipped_images_total (deadline passed before the batch ran), selfsup_encoder_models_loaded and
 * selfsup_encoder_model_load_seconds. Requests are counted for every service alike by
 * {@link dev.selfsup.service.RequestMetrics}.
 */
@Startup
@ApplicationScoped
public class EncoderMetrics {
    @Inject
    MeterRegistry registry;

    private final AtomicInteger modelsLoaded = new AtomicInteger();
    private final Map<String, AtomicInteger> queueDepth = new ConcurrentHashMap<>();
    private final Map<String, Counter> images = new ConcurrentHashMap<>();
    private Timer queueWait;
    private Timer batchTime;
    private Timer loadTime;
    private DistributionSummary batchSize;
    private Counter skipped;

    @PostConstruct
    void init() {
        Gauge.builder("selfsup.encoder.models.loaded", modelsLoaded, AtomicInteger::get)
                .description("Model versions loaded and serving")
                .register(registry);
        queueWait = Timer.builder("selfsup.encoder.queue.wait")
                .description("Time a request waited for its batch")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(100_000))
                .maximumExpectedValue(Duration.ofSeconds(10))
                .register(registry);
        batchTime = Timer.builder("selfsup.encoder.batch")
                .description("Compute time of one device batch")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofNanos(100_000))
                .maximumExpectedValue(Duration.ofSeconds(10))
                .register(registry);
        loadTime = Timer.builder("selfsup.encoder.model.load")
                .description("Time to load a model version")
                .register(registry);
        batchSize = DistributionSummary.builder("selfsup.encoder.batch.size")
                .description("Images per device batch")
                .baseUnit("images")
                .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
                .register(registry);
        skipped = Counter.builder("selfsup.encoder.skipped.images")
                .description("Images not computed because the request's deadline passed or it was cancelled")
                .register(registry);
    }

    /** Counts a file of the model store that could not be read and was set aside (a record, a pin, a gallery). */
    public void brokenFile(String kind) {
        Counter.builder("selfsup.encoder.broken.files")
                .tag("kind", kind)
                .description("Files of the model store that could not be read; each is named in the log")
                .register(registry)
                .increment();
    }

    public void imagesEmbedded(String model, int n) {
        images.computeIfAbsent(
                        model,
                        m -> Counter.builder("selfsup.encoder.images")
                                .tag("model", m)
                                .description("Images embedded")
                                .register(registry))
                .increment(n);
    }

    public void modelLoaded(long nanos) {
        loadTime.record(nanos, TimeUnit.NANOSECONDS);
    }

    public void setModelsLoaded(int n) {
        modelsLoaded.set(n);
    }

    /** Batching observations of one model (all its versions share the queue-depth gauge). */
    public DynamicBatcher.Observer observer(String model) {
        AtomicInteger depth = queueDepth.computeIfAbsent(model, m -> {
            AtomicInteger d = new AtomicInteger();
            Gauge.builder("selfsup.encoder.queue.depth", d, AtomicInteger::get)
                    .tag("model", m)
                    .description("Images waiting for a batch")
                    .baseUnit("images")
                    .register(registry);
            return d;
        });
        return new DynamicBatcher.Observer() {
            @Override
            public void batchRun(int n, long computeNanos) {
                batchSize.record(n);
                batchTime.record(computeNanos, TimeUnit.NANOSECONDS);
            }

            @Override
            public void queueWait(long nanos) {
                queueWait.record(nanos, TimeUnit.NANOSECONDS);
            }

            @Override
            public void queueDepth(int n) {
                depth.set(n);
            }

            @Override
            public void skipped(int n) {
                skipped.increment(n);
            }
        };
    }
}
