package dev.selfsup.core.nn;

import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;

/** The MLP projection heads g(h) = z of contrastive methods. */
public final class ProjectionHead {
    private ProjectionHead() {}

    /**
     * Linear, [batch norm], ReLU, Linear. SimCLR uses the batch norm (as its v2 code does), MoCo v2 does not.
     */
    public static Block mlp(int hidden, int out, boolean batchNorm) {
        SequentialBlock head = new SequentialBlock();
        head.add(Linear.builder().setUnits(hidden).optBias(!batchNorm).build());
        if (batchNorm) {
            head.add(new BatchNorm());
        }
        head.add(Activation.reluBlock());
        head.add(Linear.builder().setUnits(out).build());
        return head;
    }
}
