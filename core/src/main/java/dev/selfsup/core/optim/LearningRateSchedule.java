package dev.selfsup.core.optim;

/**
 * Linear warm-up from 0 to the base rate, then cosine decay to {@code finalLr}: a pure function of the step,
 * so a resumed run needs no schedule state beyond its step number.
 */
public record LearningRateSchedule(float baseLr, long warmupSteps, long totalSteps, float finalLr) {
    public LearningRateSchedule {
        if (baseLr <= 0 || warmupSteps < 0 || totalSteps <= 0 || finalLr < 0) {
            throw new IllegalArgumentException("bad schedule: base " + baseLr + ", warm-up " + warmupSteps + ", total "
                    + totalSteps + ", final " + finalLr);
        }
    }

    /** The learning rate of step {@code step} (0-based). */
    public float at(long step) {
        if (step < warmupSteps) {
            return baseLr * (step + 1) / warmupSteps;
        }
        long span = Math.max(1, totalSteps - warmupSteps);
        double progress = Math.min(1.0, (double) (step - warmupSteps) / span);
        return (float) (finalLr + (baseLr - finalLr) * 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
}
