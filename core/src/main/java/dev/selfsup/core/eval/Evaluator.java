package dev.selfsup.core.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import dev.selfsup.core.data.BatchLoader;
import dev.selfsup.core.data.ImageDataset;
import java.nio.file.Path;

/**
 * The standard evaluation of a self-supervised encoder: kNN and linear probe on frozen features. Features that fit
 * the budget are held in memory and evaluated at once; larger ones are written to a file batch by batch and both
 * classifiers read them chunk by chunk, so the dataset's size no longer bounds the memory it takes.
 */
public final class Evaluator {
    /** Rows of features read at once when they are in a file. */
    static final int CHUNK_ROWS = 8192;

    private final KnnClassifier knn;
    private final LinearProbe probe;
    private final long featureBudgetBytes;
    private final Path spillDir;

    /**
     * @param featureBudgetBytes the features of one split held in memory at most; larger ones go to a file
     * @param spillDir where such files are written (and deleted after)
     */
    public Evaluator(KnnClassifier knn, LinearProbe probe, long featureBudgetBytes, Path spillDir) {
        this.knn = knn;
        this.probe = probe;
        this.featureBudgetBytes = featureBudgetBytes;
        this.spillDir = spillDir;
    }

    /** Features always in memory. */
    public Evaluator(KnnClassifier knn, LinearProbe probe) {
        this(knn, probe, Long.MAX_VALUE, Path.of(System.getProperty("java.io.tmpdir")));
    }

    public Evaluator() {
        this(new KnnClassifier(), new LinearProbe());
    }

    /** Evaluates an encoder: features of both splits in inference mode, then both classifiers. */
    public EvaluationReport evaluate(Block encoder, ImageDataset train, ImageDataset test, NDManager manager) {
        check(train, test);
        try (NDManager m = manager.newSubManager()) {
            long dim;
            try (NDManager probeOne = m.newSubManager()) {
                dim = Features.extract(encoder, train.head(1), 1, probeOne)
                        .getShape()
                        .get(1);
            }
            long bytes = (long) Math.max(train.size(), test.size()) * dim * Float.BYTES;
            if (featureBudgetBytes == Long.MAX_VALUE || bytes <= featureBudgetBytes) {
                // Both splits fit: all features at once, the exact full-batch probe.
                NDArray ftr = Features.extract(encoder, train, 512, m);
                NDArray fte = Features.extract(encoder, test, 512, m);
                return evaluate(ftr, fte, train, test, m);
            }
            // Rows in a seeded shuffled order: a chunk of the file then holds every class (image folders list
            // their images class by class), which the mini-batch probe needs.
            int[] order = BatchLoader.permutation(train.size(), 17, 0);
            int[] identity = new int[test.size()];
            for (int i = 0; i < identity.length; i++) {
                identity[i] = i;
            }
            try (FeatureMatrix ftr =
                            FeatureMatrix.extract(encoder, train, order, 512, m, featureBudgetBytes, spillDir);
                    FeatureMatrix fte =
                            FeatureMatrix.extract(encoder, test, identity, 512, m, featureBudgetBytes, spillDir)) {
                int[] labels = train.labels();
                long[] shuffled = new long[order.length];
                for (int r = 0; r < order.length; r++) {
                    shuffled[r] = labels[order[r]];
                }
                NDArray ytr = m.create(shuffled).toDevice(m.getDevice(), false);
                NDArray yte = Features.labels(test, m).toDevice(m.getDevice(), false);
                int classes = Math.max(train.numClasses(), test.numClasses());
                double k = knn.accuracy(ftr, ytr, fte, yte, CHUNK_ROWS, classes);
                double l = probe.accuracy(ftr, ytr, fte, yte, classes, 4096);
                return new EvaluationReport(k, l, ftr.dim(), train.size(), test.size());
            }
        }
    }

    /**
     * The kNN accuracy alone, with features in memory: the cheap check a learning curve takes at every point (the
     * linear probe costs several times more and is taken at the end).
     */
    public double knnAccuracy(Block encoder, ImageDataset train, ImageDataset test, NDManager manager) {
        check(train, test);
        try (NDManager m = manager.newSubManager()) {
            NDArray ftr = Features.extract(encoder, train, 512, m);
            NDArray fte = Features.extract(encoder, test, 512, m);
            NDArray ytr = Features.labels(train, m).toDevice(m.getDevice(), false);
            NDArray yte = Features.labels(test, m).toDevice(m.getDevice(), false);
            return knn.accuracy(ftr, ytr, fte, yte, Math.max(train.numClasses(), test.numClasses()));
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
