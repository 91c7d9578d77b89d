package dev.selfsup.core.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.selfsup.core.model.BackboneSpec;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where a model came from: enough to trace a result to its data and settings, and to repeat it. Every
 * checkpoint and exported encoder carries one.
 *
 * @param method the self-supervised method, e.g. "simclr"
 * @param backbone the encoder's architecture and input
 * @param hyperparameters three groups that cannot shadow one another: {@value #TRAINING} (the optimizer's, the
 *     schedule's and the batch's settings), {@value #METHOD} (the method's settings record) and {@value #DERIVED}
 *     (what the method computed or fixed from them). Records written before these groups existed hold one flat map,
 *     which still reads.
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

    /** The group of training settings in {@link #hyperparameters}. */
    public static final String TRAINING = "training";
    /** The group of the method's settings. */
    public static final String METHOD = "method";
    /** The group of values the method derived. */
    public static final String DERIVED = "derived";

    /** The grouped hyperparameters of a run. */
    public static Map<String, Object> hyperparameters(
            Map<String, Object> training, Map<String, Object> method, Map<String, Object> derived) {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put(TRAINING, training);
        h.put(METHOD, method);
        h.put(DERIVED, derived);
        return h;
    }

    /**
     * One hyperparameter of a group, or null. Reads records of either form: grouped, or the flat map of older
     * records (where a method's value could shadow a training setting of the same name).
     */
    public Object hyperparameter(String group, String key) {
        if (hyperparameters == null) {
            return null;
        }
        if (hyperparameters.get(group) instanceof Map<?, ?> values) {
            return values.get(key);
        }
        return hyperparameters.get(key);
    }

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
