package dev.selfsup.core.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.selfsup.core.model.BackboneSpec;
import java.time.Instant;
import java.util.Map;

/**
 * Where a model came from: enough to trace a result to its data and settings, and to repeat it. Every
 * checkpoint and exported encoder carries one.
 *
 * @param method the self-supervised method, e.g. "simclr"
 * @param backbone the encoder's architecture and input
 * @param hyperparameters the method's, the optimizer's and the schedule's settings
 * @param dataset the pretraining data's name
 * @param datasetFingerprint a checksum of the pretraining data (see ImageDataset#fingerprint)
 * @param datasetSize how many images the data holds
 * @param seed the run's seed
 * @param steps optimizer steps taken
 * @param epochs epochs completed (fractional)
 * @param selfsupVersion the selfsup version that trained it
 * @param djlVersion the DJL version
 * @param engine the engine and its version, e.g. "PyTorch 2.3.1"
 * @param device the device it trained on
 * @param createdAt when this record was made
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Provenance(
        String method,
        BackboneSpec backbone,
        Map<String, Object> hyperparameters,
        String dataset,
        String datasetFingerprint,
        int datasetSize,
        long seed,
        long steps,
        double epochs,
        String selfsupVersion,
        String djlVersion,
        String engine,
        String device,
        Instant createdAt) {

    /** A copy with the step count, epochs and time brought up to date. */
    public Provenance at(long newSteps, double newEpochs) {
        return new Provenance(
                method,
                backbone,
                hyperparameters,
                dataset,
                datasetFingerprint,
                datasetSize,
                seed,
                newSteps,
                newEpochs,
                selfsupVersion,
                djlVersion,
                engine,
                device,
                Instant.now());
    }
}
