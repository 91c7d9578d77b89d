package dev.selfsup.trainer;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.method.UnsuitableDataException;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.parallel.GlooCollective;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.service.DataRoot;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.Arrays;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * What a run must pass before it is accepted: every size within this service's bounds, data the method can learn
 * from, a device the machine has, and (BEiT) a tokenizer whose grid matches the ViT's. A run that fails here is the
 * caller's error (INVALID_ARGUMENT or FAILED_PRECONDITION), never a failed run later.
 */
@ApplicationScoped
public class RunAdmission {
    @Inject
    DataRoot data;

    @Inject
    TokenizerClient tokenizerClient;

    @ConfigProperty(name = "selfsup.trainer.max-steps", defaultValue = "100000000")
    long maxSteps;

    @ConfigProperty(name = "selfsup.trainer.max-epochs", defaultValue = "10000")
    int maxEpochs;

    @ConfigProperty(name = "selfsup.trainer.max-batch-size", defaultValue = "4096")
    int maxBatchSize;

    @ConfigProperty(name = "selfsup.trainer.max-width", defaultValue = "1024")
    int maxWidth;

    @ConfigProperty(name = "selfsup.trainer.max-depth", defaultValue = "24")
    int maxDepth;

    /** The most worker processes this service starts on its host for one run. */
    @ConfigProperty(name = "selfsup.trainer.worker-processes.max", defaultValue = "4")
    int maxWorkers;

    /** Every size a client can ask for is bounded by configuration. */
    void checkLimits(PretrainConfig c) {
        limit("workers", c.workers(), maxWorkers, "selfsup.trainer.worker-processes.max");
        if (c.workers() > 1 && !GlooCollective.available()) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("workers: this trainer cannot start worker processes: "
                            + GlooCollective.unavailableReason())
                    .asRuntimeException();
        }
        limit("steps", c.steps(), maxSteps, "selfsup.trainer.max-steps");
        limit("epochs", c.steps() > 0 ? 0 : c.epochs(), maxEpochs, "selfsup.trainer.max-epochs");
        limit("batch_size", c.batchSize(), maxBatchSize, "selfsup.trainer.max-batch-size");
        limit("width", c.width(), maxWidth, "selfsup.trainer.max-width");
        limit("depth", c.depth(), maxDepth, "selfsup.trainer.max-depth");
    }

    private static void limit(String field, long value, long max, String key) {
        if (value > max) {
            throw RunSpecs.invalid(field + ": " + value + " is over this service's limit of " + max + " (" + key + ")");
        }
    }

    /** Reads the run's training data now and checks that the run can learn from it; returns the data. */
    ImageDataset checkData(RunSpec spec, PretrainConfig c) {
        ImageDataset d = data.load(spec.getDataset(), "train");
        checkFits(c, d);
        // What the method needs from outside (BEiT's tokenizer on the tokenizer-service), through its definition.
        try {
            Methods.checkResources(
                    c.method(), c.settings(), spec(c, d), d, new MethodResources(tokenizerClient::source));
        } catch (UnsuitableDataException e) {
            throw Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException();
        }
        return d;
    }

    private static void checkFits(PretrainConfig c, ImageDataset d) {
        if (d.size() < c.batchSize()) {
            throw RunSpecs.invalid(
                    "batch_size: " + c.batchSize() + " is larger than the dataset (" + d.size() + " images)");
        }
        if (d.height() != d.width()) {
            throw RunSpecs.invalid("dataset: images must be square, got " + d.height() + "x" + d.width());
        }
        try {
            Methods.checkData(c.method(), c.settings(), spec(c, d), d);
        } catch (UnsuitableDataException e) {
            throw Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException();
        } catch (IllegalArgumentException e) {
            throw RunSpecs.invalid(e.getMessage());
        }
        try {
            // A device the machine lacks (a GPU on a CPU host, more GPUs than it has) is refused now, not by a
            // failed run later.
            Devices.chooseAll(c.device(), c.replicas());
        } catch (IllegalStateException e) {
            throw Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException();
        }
    }

    /** The run's backbone on this data, with neutral statistics (only its shape matters here). */
    private static BackboneSpec spec(PretrainConfig c, ImageDataset d) {
        float[] ones = new float[d.channels()];
        Arrays.fill(ones, 1f);
        return new BackboneSpec(c.backbone(), c.width(), c.depth(), d.channels(), d.height(), ones, ones);
    }
}
