package dev.selfsup.core.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;

/**
 * A linear classifier on frozen, standardised features, trained with softmax cross entropy: the linear
 * evaluation protocol of self-supervised learning. Full-batch Adam on the analytic gradient when the features
 * are in memory (no autograd needed), mini-batch Adam over chunks when they are in a file; a small L2 penalty; the
 * mean and standard deviation come from the training split only.
 */
public final class LinearProbe {
    private final int iterations;
    private final float learningRate;
    private final float l2;

    public LinearProbe(int iterations, float learningRate, float l2) {
        this.iterations = iterations;
        this.learningRate = learningRate;
        this.l2 = l2;
    }

    public LinearProbe() {
        this(500, 0.05f, 1e-4f);
    }

    /** Trains on (train, trainLabels) and returns the accuracy on (test, testLabels). */
    public double accuracy(NDArray train, NDArray trainLabels, NDArray test, NDArray testLabels, int classes) {
        NDManager m = train.getManager().newSubManager();
        try (m;
                NDScope scope = new NDScope()) {
            NDArray mean = train.mean(new int[] {0}, true);
            NDArray std =
                    train.sub(mean).square().mean(new int[] {0}, true).sqrt().add(1e-6f);
            NDArray x = train.sub(mean).div(std);
            NDArray xt = test.sub(mean).div(std);
            long n = x.getShape().get(0);
            long d = x.getShape().get(1);
            NDArray y = trainLabels.toType(DataType.INT64, false).oneHot(classes, DataType.FLOAT32);
            NDArray w = m.zeros(new Shape(d, classes), DataType.FLOAT32, train.getDevice());
            NDArray b = m.zeros(new Shape(1, classes), DataType.FLOAT32, train.getDevice());
            NDArray mw = w.zerosLike();
            NDArray vw = w.zerosLike();
            NDArray mb = b.zerosLike();
            NDArray vb = b.zerosLike();
            NDArray xT = x.transpose();
            float b1 = 0.9f;
            float b2 = 0.999f;
            for (int t = 1; t <= iterations; t++) {
                try (NDScope step = new NDScope()) {
                    NDArray p = x.matMul(w).addi(b).softmax(1);
                    NDArray g = Scalars.divi(p.subi(y), n);
                    NDArray gw = xT.matMul(g).addi(Scalars.mul(w, l2));
                    NDArray gb = g.sum(new int[] {0}, true);
                    float c1 = (float) (1 - Math.pow(b1, t));
                    float c2 = (float) (1 - Math.pow(b2, t));
                    // cosine decay keeps the last iterations from oscillating
                    float lr = (float) (learningRate * 0.5 * (1 + Math.cos(Math.PI * (t - 1) / iterations)));
                    adam(w, gw, mw, vw, lr, b1, b2, c1, c2);
                    adam(b, gb, mb, vb, lr, b1, b2, c1, c2);
                }
            }
            NDArray pred = xt.matMul(w).addi(b).argMax(1);
            long correct = pred.eq(testLabels.toType(DataType.INT64, false))
                    .toType(DataType.INT64, false)
                    .sum()
                    .getLong();
            return (double) correct / test.getShape().get(0);
        }
    }

    /**
     * The same probe on features read chunk by chunk ({@link FeatureMatrix}): the mean and standard deviation in one
     * pass, then Adam on mini-batches of {@code batchRows} consecutive rows, at least 10 epochs and at least as many
     * steps as the full-batch probe's iterations, the same cosine decay and L2 penalty. The rows must come in a
     * shuffled order, as {@link Evaluator} writes them, so that a mini-batch holds every class.
     *
     * @param trainLabels int64 {@code [N]} in the training features' row order
     */
    public double accuracy(
            FeatureMatrix train,
            NDArray trainLabels,
            FeatureMatrix test,
            NDArray testLabels,
            int classes,
            int batchRows) {
        NDManager m = trainLabels.getManager().newSubManager();
        try (m) {
            long n = train.rows();
            int d = train.dim();
            NDArray sum = m.zeros(new Shape(1, d), DataType.FLOAT64, m.getDevice());
            NDArray sq = m.zeros(new Shape(1, d), DataType.FLOAT64, m.getDevice());
            for (long from = 0; from < n; from += batchRows) {
                try (NDScope scope = new NDScope()) {
                    NDArray x = train.chunk(from, (int) Math.min(batchRows, n - from), m)
                            .toType(DataType.FLOAT64, false);
                    sum.addi(x.sum(new int[] {0}, true));
                    sq.addi(x.square().sum(new int[] {0}, true));
                }
            }
            NDArray mean = Scalars.div(sum, n);
            NDArray std = Scalars.maximum(Scalars.div(sq, n).sub(mean.square()), 0)
                    .sqrt()
                    .add(1e-6)
                    .toType(DataType.FLOAT32, false);
            mean = mean.toType(DataType.FLOAT32, false);
            NDArray w = m.zeros(new Shape(d, classes), DataType.FLOAT32, m.getDevice());
            NDArray b = m.zeros(new Shape(1, classes), DataType.FLOAT32, m.getDevice());
            NDArray mw = w.zerosLike();
            NDArray vw = w.zerosLike();
            NDArray mb = b.zerosLike();
            NDArray vb = b.zerosLike();
            long stepsPerEpoch = (n + batchRows - 1) / batchRows;
            long epochs = Math.max(10, (iterations + stepsPerEpoch - 1) / stepsPerEpoch);
            long total = epochs * stepsPerEpoch;
            float b1 = 0.9f;
            float b2 = 0.999f;
            long t = 0;
            for (long e = 0; e < epochs; e++) {
                for (long from = 0; from < n; from += batchRows) {
                    t++;
                    int rows = (int) Math.min(batchRows, n - from);
                    try (NDScope step = new NDScope()) {
                        NDArray x = train.chunk(from, rows, m).sub(mean).div(std);
                        NDArray y = trainLabels
                                .get(from + ":" + (from + rows))
                                .toType(DataType.INT64, false)
                                .oneHot(classes, DataType.FLOAT32);
                        NDArray g = Scalars.divi(x.matMul(w).addi(b).softmax(1).subi(y), rows);
                        NDArray gw = x.transpose().matMul(g).addi(Scalars.mul(w, l2));
                        NDArray gb = g.sum(new int[] {0}, true);
                        float c1 = (float) (1 - Math.pow(b1, t));
                        float c2 = (float) (1 - Math.pow(b2, t));
                        float lr = (float) (learningRate * 0.5 * (1 + Math.cos(Math.PI * (t - 1) / total)));
                        adam(w, gw, mw, vw, lr, b1, b2, c1, c2);
                        adam(b, gb, mb, vb, lr, b1, b2, c1, c2);
                    }
                }
            }
            long correct = 0;
            for (long from = 0; from < test.rows(); from += batchRows) {
                int rows = (int) Math.min(batchRows, test.rows() - from);
                try (NDScope scope = new NDScope()) {
                    NDArray pred = test.chunk(from, rows, m)
                            .sub(mean)
                            .div(std)
                            .matMul(w)
                            .addi(b)
                            .argMax(1);
                    correct += pred.eq(
                                    testLabels.get(from + ":" + (from + rows)).toType(DataType.INT64, false))
                            .toType(DataType.INT64, false)
                            .sum()
                            .getLong();
                }
            }
            return (double) correct / test.rows();
        }
    }

    private static void adam(
            NDArray p, NDArray g, NDArray m, NDArray v, float lr, float b1, float b2, float c1, float c2) {
        Scalars.muli(m, b1).addi(Scalars.mul(g, 1 - b1));
        Scalars.muli(v, b2).addi(Scalars.muli(g.square(), 1 - b2));
        p.subi(Scalars.muli(Scalars.div(m, c1).divi(Scalars.div(v, c2).sqrt().addi(1e-8f)), lr));
    }
}
