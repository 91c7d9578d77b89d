package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import dev.selfsup.core.engine.Scalars;

/** Grey levels of a batch, with the ITU-R 601 weights torchvision uses. */
final class Luma {
    private Luma() {}

    /** {@code [B, 1, H, W]}: the input itself for one channel, the weighted sum of R, G and B for three. */
    static NDArray of(NDArray images) {
        long c = images.getShape().get(1);
        if (c == 1) {
            return images;
        }
        NDArray r = images.get(new NDIndex(":, 0:1"));
        NDArray g = images.get(new NDIndex(":, 1:2"));
        NDArray b = images.get(new NDIndex(":, 2:3"));
        return Scalars.mul(r, 0.299f).addi(Scalars.mul(g, 0.587f)).addi(Scalars.mul(b, 0.114f));
    }
}
