package dev.selfsup.core.train;

import java.nio.file.Path;

/**
 * How a run ended.
 *
 * @param status FINISHED, CANCELLED or FAILED
 * @param steps steps done
 * @param finalLoss the last reported loss
 * @param lastCheckpoint the newest checkpoint, or null
 * @param error why it failed, or null
 */
public record PretrainResult(Status status, long steps, double finalLoss, Path lastCheckpoint, String error) {
    /** How a run ended. */
    public enum Status {
        FINISHED,
        CANCELLED,
        FAILED
    }
}
