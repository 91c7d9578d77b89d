package dev.selfsup.core.parallel;

/**
 * The worker processes of a run hold different values where they must hold the same (the step they start from,
 * their weights): one of them computed differently, and going on would train different models under one run.
 */
public class WorkersDisagreeException extends IllegalStateException {
    /** @param message what they disagree on, with every rank's value */
    public WorkersDisagreeException(String message) {
        super(message);
    }
}
