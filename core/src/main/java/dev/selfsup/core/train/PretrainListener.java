package dev.selfsup.core.train;

import java.nio.file.Path;
import java.util.Map;

/**
 * Observes a pretraining run (DJL's TrainingListener idea): progress bars, metrics and logs hook in here.
 * Callbacks run on the training thread and should return quickly.
 */
public interface PretrainListener {
    /** The run starts, or resumes at {@code startStep}. */
    default void onStart(long startStep, long totalSteps) {}

    /** After every step: its wall time and how long of it was spent waiting for data. */
    default void onStep(long step, double stepSeconds, double dataWaitSeconds, int images) {}

    /** Every {@code logEverySteps} steps, after the loss was read from the device. */
    default void onProgress(Progress progress) {}

    /** A checkpoint was written. */
    default void onCheckpoint(Path file, long step, double seconds) {}

    /** The run ended (finished, cancelled or failed). */
    default void onEnd(PretrainResult result) {}

    /**
     * A progress report.
     *
     * @param step steps done so far
     * @param totalSteps steps of the whole run
     * @param epoch epochs done, fractional
     * @param loss mean loss over the steps since the last report
     * @param learningRate the current learning rate
     * @param imagesPerSecond source images per second since the last report
     * @param etaSeconds estimated seconds to the end
     * @param methodMetrics what the method reports besides the loss (e.g. DeepCluster's "nmi"), by name
     */
    record Progress(
            long step,
            long totalSteps,
            double epoch,
            double loss,
            double learningRate,
            double imagesPerSecond,
            double etaSeconds,
            Map<String, Double> methodMetrics) {}
}
