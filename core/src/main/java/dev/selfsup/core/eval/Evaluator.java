package dev.selfsup.core.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import dev.selfsup.core.data.ImageDataset;

/** The standard evaluation of a self-supervised encoder: kNN and linear probe on frozen features. */
public final class Evaluator {
    private final KnnClassifier knn;
    private final LinearProbe probe;

    public Evaluator(KnnClassifier knn, LinearProbe probe) {
        this.knn = knn;
        this.probe = probe;
    }

    public Evaluator() {
        this(new KnnClassifier(), new LinearProbe());
    }

    /** Evaluates an encoder: features of both splits in inference mode, then both classifiers. */
    public EvaluationReport evaluate(Block encoder, ImageDataset train, ImageDataset test, NDManager manager) {
        check(train, test);
        try (NDManager m = manager.newSubManager()) {
            NDArray ftr = Features.extract(encoder, train, 512, m);
            NDArray fte = Features.extract(encoder, test, 512, m);
            return evaluate(ftr, fte, train, test, m);
        }
    }

    /** Evaluates raw pixels: the baseline. */
    public EvaluationReport evaluateRawPixels(ImageDataset train, ImageDataset test, NDManager manager) {
        check(train, test);
        try (NDManager m = manager.newSubManager()) {
            return evaluate(Features.rawPixels(train, m), Features.rawPixels(test, m), train, test, m);
        }
    }

    /** Evaluates given features of the two splits. */
    public EvaluationReport evaluate(
            NDArray trainFeatures, NDArray testFeatures, ImageDataset train, ImageDataset test, NDManager m) {
        NDArray ytr = Features.labels(train, m).toDevice(m.getDevice(), false);
        NDArray yte = Features.labels(test, m).toDevice(m.getDevice(), false);
        int classes = Math.max(train.numClasses(), test.numClasses());
        double k = knn.accuracy(trainFeatures, ytr, testFeatures, yte, classes);
        double l = probe.accuracy(trainFeatures, ytr, testFeatures, yte, classes);
        return new EvaluationReport(k, l, (int) trainFeatures.getShape().get(1), train.size(), test.size());
    }

    private static void check(ImageDataset train, ImageDataset test) {
        if (!train.hasLabels() || !test.hasLabels()) {
            throw new IllegalArgumentException("evaluation needs labelled train and test splits");
        }
        if (train.channels() != test.channels() || train.height() != test.height() || train.width() != test.width()) {
            throw new IllegalArgumentException("train and test images differ in shape");
        }
    }
}
