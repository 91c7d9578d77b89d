package dev.selfsup.core.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;

/** The losses of the contrastive methods, as a few batched array operations each. */
public final class Losses {
    private Losses() {}

    /** Rows scaled to unit L2 norm (eps keeps a zero row finite). */
    public static NDArray l2Normalize(NDArray x) {
        return x.normalize(2, 1, 1e-12);
    }

    /**
     * NT-Xent (SimCLR): for 2N embeddings of N pairs, the mean over all 2N anchors of the cross entropy of
     * picking the anchor's partner among the 2N - 1 others, with cosine similarities divided by the temperature.
     *
     * @param z1 {@code [N, D]} projections of the first views
     * @param z2 {@code [N, D]} projections of the second views (row i pairs with row i of z1)
     */
    public static NDArray ntXent(NDArray z1, NDArray z2, float temperature) {
        long n = z1.getShape().get(0);
        NDArray z = l2Normalize(NDArrays.concat(new NDList(z1, z2), 0));
        NDManager m = z.getManager();
        // Self-similarity is masked with a large negative number: exp() of it is 0 in float32.
        NDArray selfMask = Scalars.muli(m.eye((int) (2 * n)).toDevice(z.getDevice(), false), 1e9f);
        NDArray logits = Scalars.divi(z.matMul(z.transpose()), temperature).subi(selfMask);
        NDArray logProb = logits.logSoftmax(1);
        long[] partner = new long[(int) (2 * n)];
        for (int i = 0; i < 2 * n; i++) {
            partner[i] = (i + n) % (2 * n);
        }
        NDArray idx = m.create(partner, new Shape(2 * n, 1)).toDevice(z.getDevice(), false);
        return logProb.gather(idx, 1).mean().neg();
    }

    /**
     * InfoNCE (MoCo): for each query, the cross entropy of picking its key (logit at index 0) against the K
     * negatives of the queue, similarities divided by the temperature. Inputs are already L2-normalised.
     *
     * @param q {@code [N, D]} queries, with gradient
     * @param k {@code [N, D]} keys, without gradient
     * @param queue {@code [K, D]} negative keys
     */
    public static NDArray infoNce(NDArray q, NDArray k, NDArray queue, float temperature) {
        NDArray pos = q.mul(k).sum(new int[] {1}, true); // [N, 1]
        NDArray neg = q.matMul(queue.transpose()); // [N, K]
        NDArray logits = Scalars.divi(NDArrays.concat(new NDList(pos, neg), 1), temperature);
        return logits.logSoftmax(1).get(":, 0").mean().neg();
    }

    /** Mean cross entropy of logits {@code [N, C]} against integer labels {@code [N]}. */
    public static NDArray crossEntropy(NDArray logits, NDArray labels) {
        NDArray idx = labels.toType(DataType.INT64, false).reshape(-1, 1);
        return logits.logSoftmax(1).gather(idx, 1).mean().neg();
    }

    /**
     * The mean cosine similarity of matching rows of {@code p} and {@code z} ({@code [N, D]} each): what BYOL and
     * SimSiam maximise between a prediction and the other view's projection. Give {@code z} behind a stop-gradient.
     */
    public static NDArray meanCosine(NDArray p, NDArray z) {
        return l2Normalize(p).mul(l2Normalize(z)).sum(new int[] {1}).mean();
    }

    /**
     * Rows {@code [N, D]} of two views of N images laid one after the other ({@code [2N, D]}), with the halves
     * swapped: row i of the result is the other view of the image at row i.
     */
    public static NDArray otherView(NDArray both) {
        long n = both.getShape().get(0) / 2;
        return NDArrays.concat(new NDList(both.get(n + ":"), both.get("0:" + n)), 0);
    }

    /**
     * Barlow Twins (Zbontar et al. 2021): the cross-correlation matrix C of the two views' projections, each
     * standardised over the batch, is pulled towards the identity: sum of (1 - C_ii)^2 plus {@code offDiagonalWeight}
     * times the sum of C_ij^2 off the diagonal.
     *
     * @param z1 {@code [N, D]} projections of the first views
     * @param z2 {@code [N, D]} projections of the second views
     */
    public static NDArray barlowTwins(NDArray z1, NDArray z2, float offDiagonalWeight) {
        long n = z1.getShape().get(0);
        NDArray c = Scalars.divi(standardised(z1).transpose().matMul(standardised(z2)), n);
        NDArray eye = identityLike(c);
        NDArray diagonal = c.mul(eye).sum(new int[] {1});
        NDArray onDiagonal = diagonal.neg().addi(1).square().sum();
        NDArray offDiagonal = c.square().sum().subi(diagonal.square().sum());
        return onDiagonal.add(Scalars.muli(offDiagonal, offDiagonalWeight));
    }

    /**
     * VICReg (Bardes et al. 2022): invariance (mean squared distance between the two views' projections), variance
     * (a hinge keeping each dimension's standard deviation over the batch at 1 or more) and covariance (the squared
     * off-diagonal covariances, over D), weighted and summed; the last two for each view.
     */
    public static NDArray vicreg(
            NDArray z1, NDArray z2, float invarianceWeight, float varianceWeight, float covarianceWeight) {
        NDArray invariance = z1.sub(z2).square().mean();
        NDArray variance = varianceHinge(z1).add(varianceHinge(z2));
        NDArray covariance = offDiagonalCovariance(z1).add(offDiagonalCovariance(z2));
        return Scalars.muli(invariance, invarianceWeight)
                .addi(Scalars.muli(variance, varianceWeight))
                .addi(Scalars.muli(covariance, covarianceWeight));
    }

    /** Each column minus its mean over the batch, over its standard deviation (eps 1e-5 inside the root). */
    private static NDArray standardised(NDArray z) {
        NDArray centred = z.sub(z.mean(new int[] {0}, true));
        return centred.div(
                centred.square().mean(new int[] {0}, true).addi(1e-5f).sqrt());
    }

    /** The mean over dimensions of max(0, 1 - std), std over the batch with eps 1e-4 inside the root. */
    private static NDArray varianceHinge(NDArray z) {
        NDArray centred = z.sub(z.mean(new int[] {0}, true));
        long n = z.getShape().get(0);
        NDArray std = Scalars.divi(centred.square().sum(new int[] {0}), n - 1)
                .addi(1e-4f)
                .sqrt();
        return ai.djl.nn.Activation.relu(std.neg().addi(1)).mean();
    }

    /** The sum of squared off-diagonal entries of the batch covariance of {@code z} {@code [N, D]}, over D. */
    private static NDArray offDiagonalCovariance(NDArray z) {
        long n = z.getShape().get(0);
        long d = z.getShape().get(1);
        NDArray centred = z.sub(z.mean(new int[] {0}, true));
        NDArray cov = Scalars.divi(centred.transpose().matMul(centred), n - 1);
        NDArray offDiagonal =
                cov.square().sum().subi(cov.mul(identityLike(cov)).square().sum());
        return Scalars.divi(offDiagonal, d);
    }

    /** The identity matrix of a square matrix's size, on its device. */
    private static NDArray identityLike(NDArray square) {
        return square.getManager()
                .eye((int) square.getShape().get(0))
                .toDevice(square.getDevice(), false)
                .toType(square.getDataType(), false);
    }
}
