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
}
