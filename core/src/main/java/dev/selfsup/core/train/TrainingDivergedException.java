package dev.selfsup.core.train;

/** The loss became NaN or infinite: the run stops, and its last checkpoint (written before) stays good. */
public class TrainingDivergedException extends RuntimeException {
    public TrainingDivergedException(String message) {
        super(message);
    }
}
