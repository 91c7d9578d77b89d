package dev.selfsup.tokenizer;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The tokenizer-service's Prometheus metrics: selfsup_tokenizer_images_total{tokenizer,method} (images tokenized or
 * decoded), selfsup_tokenizer_tokenizers (loaded), and for trainings in progress selfsup_tokenizer_training_step,
 * selfsup_tokenizer_training_loss, selfsup_tokenizer_training_codebook_usage and
 * selfsup_tokenizer_training_images_per_second, by tokenizer. Requests (selfsup_tokenizer_requests_total and
 * selfsup_tokenizer_request_seconds) are counted for every service alike by {@link dev.selfsup.service.RequestMetrics}.
 */
@Startup
@ApplicationScoped
public class TokenizerMetrics {
    @Inject
    MeterRegistry registry;

    private final AtomicInteger loaded = new AtomicInteger();
    private final Map<String, Training> trainings = new ConcurrentHashMap<>();

    /** The live numbers of one training, read by its gauges. */
    public static final class Training {
        volatile double step;
        volatile double loss;
        volatile double usage;
        volatile double imagesPerSecond;

        public void update(long s, double l, double u, double ips) {
            step = s;
            loss = l;
            usage = u;
            imagesPerSecond = ips;
        }
    }

    @PostConstruct
    void init() {
        Gauge.builder("selfsup.tokenizer.tokenizers", loaded, AtomicInteger::get)
                .description("Tokenizers loaded and serving")
                .register(registry);
    }

    public void setLoaded(int n) {
        loaded.set(n);
    }

    /** Counts the images of a call that succeeded. */
    public void images(String method, String tokenizer, int images) {
        Counter.builder("selfsup.tokenizer.images")
                .tags("tokenizer", tokenizer, "method", method)
                .description("Images tokenized or decoded")
                .register(registry)
                .increment(images);
    }

    /** The gauges of a training, registered on first use. */
    public Training training(String tokenizer) {
        return trainings.computeIfAbsent(tokenizer, name -> {
            Training t = new Training();
            Gauge.builder("selfsup.tokenizer.training.step", t, x -> x.step)
                    .tag("tokenizer", name)
                    .description("Steps done")
                    .strongReference(true)
                    .register(registry);
            Gauge.builder("selfsup.tokenizer.training.loss", t, x -> x.loss)
                    .tag("tokenizer", name)
                    .description("Loss at the last report")
                    .strongReference(true)
                    .register(registry);
            Gauge.builder("selfsup.tokenizer.training.codebook.usage", t, x -> x.usage)
                    .tag("tokenizer", name)
                    .description("Share of codes a batch uses")
                    .strongReference(true)
                    .register(registry);
            Gauge.builder("selfsup.tokenizer.training.images.per.second", t, x -> x.imagesPerSecond)
                    .tag("tokenizer", name)
                    .description("Training throughput")
                    .strongReference(true)
                    .register(registry);
            return t;
        });
    }
}
