package dev.selfsup.core.eval;

/**
 * Accuracies of frozen features on a labelled split.
 *
 * @param knnAccuracy weighted kNN accuracy (fraction 0-1)
 * @param linearAccuracy linear-probe accuracy (fraction 0-1)
 * @param featureDim size of the features
 * @param trainImages labelled images the classifiers learned from
 * @param testImages images they were scored on
 */
public record EvaluationReport(
        double knnAccuracy, double linearAccuracy, int featureDim, int trainImages, int testImages) {}
