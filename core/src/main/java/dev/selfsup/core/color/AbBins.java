package dev.selfsup.core.color;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Scalars;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The quantized ab colour space of colorization (Zhang et al. 2016): a grid of {@code step}-wide bins over
 * a and b, of which only those the data uses are classes, with the empirical prior over them and the class
 * rebalancing weights {@code w ∝ 1 / ((1 - λ) p̃ + λ / Q)} (p̃: the prior smoothed by a Gaussian of σ = 5,
 * normalised so that the expected weight is 1), which stop the network from predicting desaturated colours.
 */
public final class AbBins {
    /** The ab range the grid covers: [-RANGE, RANGE). */
    public static final int RANGE = 110;

    private final int step;
    private final float[] centres; // [Q * 2]: a, b of each class
    private final float[] prior;
    private final float[] weights;

    private AbBins(int step, float[] centres, float[] prior, float[] weights) {
        this.step = step;
        this.centres = centres;
        this.prior = prior;
        this.weights = weights;
    }

    /**
     * Measures the ab histogram of (at most {@code maxImages} of) an RGB dataset and keeps the bins it uses.
     *
     * @param lambda the weight of the uniform distribution in the rebalancing (0.5 in the paper)
     */
    public static AbBins fromData(ImageDataset data, int step, int maxImages, double lambda, long seed) {
        if (data.channels() != 3) {
            throw new IllegalArgumentException("ab bins need RGB images, got " + data.channels() + " channel(s)");
        }
        int side = 2 * RANGE / step;
        double[] counts = new double[side * side];
        int n = Math.min(maxImages, data.size());
        SplittableRandom rng = new SplittableRandom(seed);
        for (int k = 0; k < n; k++) {
            int i = n == data.size() ? k : rng.nextInt(data.size());
            byte[] img = data.image(i);
            int plane = data.height() * data.width();
            for (int at = 0; at < plane; at++) {
                double[] lab = Lab.fromRgb(
                        (img[at] & 0xff) / 255.0,
                        (img[plane + at] & 0xff) / 255.0,
                        (img[2 * plane + at] & 0xff) / 255.0);
                counts[cell(lab[1], step, side) * side + cell(lab[2], step, side)]++;
            }
        }
        return fromCounts(counts, step, lambda);
    }

    /** From a histogram over the full {@code side x side} grid (row: a, column: b). */
    static AbBins fromCounts(double[] counts, int step, double lambda) {
        int side = 2 * RANGE / step;
        double total = 0;
        for (double c : counts) {
            total += c;
        }
        if (total == 0) {
            throw new IllegalArgumentException("no pixels to measure colours from");
        }
        // Smooth the prior with a Gaussian of sigma 5 ab units, then keep the bins that occur.
        double sigma = 5.0 / step;
        int radius = (int) Math.ceil(3 * sigma);
        double[] smooth = new double[counts.length];
        for (int a = 0; a < side; a++) {
            for (int b = 0; b < side; b++) {
                double c = counts[a * side + b] / total;
                if (c == 0) {
                    continue;
                }
                for (int da = -radius; da <= radius; da++) {
                    for (int db = -radius; db <= radius; db++) {
                        int aa = a + da;
                        int bb = b + db;
                        if (aa >= 0 && aa < side && bb >= 0 && bb < side) {
                            smooth[aa * side + bb] += c * Math.exp(-(da * da + db * db) / (2 * sigma * sigma));
                        }
                    }
                }
            }
        }
        List<Integer> used = new ArrayList<>();
        double smoothTotal = 0;
        for (int k = 0; k < counts.length; k++) {
            if (counts[k] > 0) {
                used.add(k);
                smoothTotal += smooth[k];
            }
        }
        int q = used.size();
        float[] centres = new float[2 * q];
        float[] prior = new float[q];
        float[] weights = new float[q];
        double expected = 0;
        double[] raw = new double[q];
        for (int j = 0; j < q; j++) {
            int k = used.get(j);
            centres[2 * j] = -RANGE + step * (k / side) + step / 2f;
            centres[2 * j + 1] = -RANGE + step * (k % side) + step / 2f;
            double p = smooth[k] / smoothTotal;
            prior[j] = (float) (counts[k] / total);
            raw[j] = 1.0 / ((1 - lambda) * p + lambda / q);
            expected += p * raw[j];
        }
        for (int j = 0; j < q; j++) {
            weights[j] = (float) (raw[j] / expected);
        }
        return new AbBins(step, centres, prior, weights);
    }

    private static int cell(double v, int step, int side) {
        return Math.max(0, Math.min(side - 1, (int) Math.floor((v + RANGE) / step)));
    }

    /** Number of classes Q. */
    public int size() {
        return prior.length;
    }

    public int step() {
        return step;
    }

    /** The (a, b) centre of class {@code q}. */
    public float[] centre(int q) {
        return new float[] {centres[2 * q], centres[2 * q + 1]};
    }

    /** The empirical probability of class {@code q}. */
    public float prior(int q) {
        return prior[q];
    }

    /** The rebalancing weight of class {@code q}. */
    public float weight(int q) {
        return weights[q];
    }

    /** The class centres as {@code [Q, 2]} on the device of {@code like}. */
    public NDArray centres(NDManager manager, NDArray like) {
        return manager.create(centres, new Shape(size(), 2)).toDevice(like.getDevice(), false);
    }

    /**
     * Soft-encoded targets {@code [N, Q]} of ab values {@code [N, 2]}: Gaussian weights (σ = 5) on the
     * {@code neighbours} nearest classes, normalised to sum to 1, as in the paper.
     */
    public NDArray softTargets(NDArray ab, int neighbours) {
        NDArray d2 = squaredDistances(ab);
        NDArray kth = d2.neg()
                .topK(Math.min(neighbours, size()), 1, true, false)
                .get(0)
                .min(new int[] {1}, true)
                .neg();
        NDArray near = d2.lte(kth).toType(DataType.FLOAT32, false);
        NDArray g = Scalars.div(d2, -2f * 25f).exp().muli(near);
        return g.divi(g.sum(new int[] {1}, true).addi(1e-12f));
    }

    /** The rebalancing weight of each ab value's nearest class: {@code [N, 2]} to {@code [N]}. */
    public NDArray pixelWeights(NDArray ab) {
        NDArray nearest = squaredDistances(ab).argMin(1);
        NDArray w = ab.getManager().create(weights).toDevice(ab.getDevice(), false);
        return w.take(nearest);
    }

    /**
     * The annealed mean of the predicted distributions {@code [N, Q]} (logits): the mean of
     * {@code softmax(logits / T)} over the class centres. T = 0.38 in the paper: between the mean (T = 1, dull)
     * and the mode (T → 0, patchy).
     */
    public NDArray annealedMean(NDArray logits, float temperature) {
        NDArray p = Scalars.div(logits, temperature).softmax(1);
        return p.matMul(centres(logits.getManager(), logits));
    }

    private NDArray squaredDistances(NDArray ab) {
        NDArray c = centres(ab.getManager(), ab); // [Q, 2]
        NDArray cross = ab.matMul(c.transpose()); // [N, Q]
        NDArray aa = ab.square().sum(new int[] {1}, true);
        NDArray cc = c.square().sum(new int[] {1}).reshape(1, -1);
        return Scalars.maximum(aa.add(cc).subi(Scalars.muli(cross, 2f)), 0f);
    }
}
