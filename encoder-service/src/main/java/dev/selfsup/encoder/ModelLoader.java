package dev.selfsup.encoder;

import ai.djl.Device;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.engine.IntraOpThreads;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Loads a stored version into a {@link ServedModel} on this service's device, with its batcher set from
 * configuration: the device and its threads are chosen at the first load, and every model's queue draws on one
 * byte budget.
 */
@ApplicationScoped
public class ModelLoader {
    private static final Logger LOG = Logger.getLogger(ModelLoader.class);

    @ConfigProperty(name = "selfsup.encoder.max-input-size", defaultValue = "1024")
    int maxInputSize = 1024;

    @ConfigProperty(name = "selfsup.device", defaultValue = "auto")
    String devicePreference;

    @ConfigProperty(name = "selfsup.encoder.max-batch-size", defaultValue = "64")
    int maxBatch;

    @ConfigProperty(name = "selfsup.encoder.max-queue-delay", defaultValue = "PT0.002S")
    Duration maxQueueDelay;

    @ConfigProperty(name = "selfsup.encoder.max-queue-images", defaultValue = "2048")
    int maxQueueImages;

    /** Bytes of pixels waiting in all models' queues together (0: a quarter of the maximum heap, where they live). */
    @ConfigProperty(name = "selfsup.encoder.max-queue-bytes", defaultValue = "0")
    long maxQueueBytes;

    /** Batches of one model version that run at once (0: one per core on a CPU, two on a GPU). */
    @ConfigProperty(name = "selfsup.encoder.workers", defaultValue = "0")
    int workers;

    /** libtorch threads per operation (0: on a CPU, the cores shared out among the workers; on a GPU, libtorch's default). */
    @ConfigProperty(name = "selfsup.encoder.intra-op-threads", defaultValue = "0")
    int intraOpThreads;

    @Inject
    EncoderMetrics metrics;

    private Device device;
    private DynamicBatcher.QueueBudget queueBudget;

    private synchronized Device device() {
        if (device == null) {
            device = Devices.choose(devicePreference);
            int cores = Runtime.getRuntime().availableProcessors();
            boolean cpu = !device.isGpu();
            workers = workers > 0 ? workers : cpu ? cores : 2;
            int threads = intraOpThreads > 0 ? intraOpThreads : cpu ? Math.max(1, cores / workers) : 0;
            if (threads > 0) {
                // Before any batch runs: worker threads take the value at their first operation.
                IntraOpThreads.set(threads);
            }
            LOG.infof(
                    "serving on %s: %d batch workers per model version, %s intra-op thread(s) each",
                    device, workers, threads > 0 ? Integer.toString(threads) : "libtorch's default");
        }
        return device;
    }

    /** The version {@code r} from its bundle file, with its gallery file. */
    ServedModel load(ModelStore.VersionRecord r, Path bundle, Path gallery) throws IOException {
        Device d = device(); // first: it settles the number of workers
        ServedModel m = ServedModel.load(
                r,
                bundle,
                gallery,
                d,
                new DynamicBatcher.Config(maxBatch, maxQueueDelay.toNanos(), maxQueueImages, workers, queueBudget()),
                metrics.observer(r.name()),
                metrics::brokenFile,
                maxInputSize);
        metrics.modelLoaded(m.loadNanos());
        return m;
    }

    /** The one byte budget of every model's queue, made on first use from {@code max-queue-bytes}. */
    synchronized DynamicBatcher.QueueBudget queueBudget() {
        if (queueBudget == null) {
            queueBudget = new DynamicBatcher.QueueBudget(
                    maxQueueBytes > 0 ? maxQueueBytes : Runtime.getRuntime().maxMemory() / 4);
        }
        return queueBudget;
    }
}
