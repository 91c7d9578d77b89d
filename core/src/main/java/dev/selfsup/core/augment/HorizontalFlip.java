package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.Random;

/** Mirrors each image left-right with probability {@code p}. */
public final class HorizontalFlip implements Augmentation {
    private final double p;

    public HorizontalFlip(double p) {
        this.p = p;
    }

    @Override
    public NDArray apply(NDArray images, Random rng) {
        int b = (int) images.getShape().get(0);
        float[] flip = new float[b];
        for (int i = 0; i < b; i++) {
            flip[i] = rng.nextDouble() < p ? 1f : 0f;
        }
        // x + m (flip(x) - x) with m in {0, 1}: a select that broadcasts (DJL's where does not).
        NDArray mask = images.getManager().create(flip, new Shape(b, 1, 1, 1)).toDevice(images.getDevice(), false);
        return images.add(images.flip(3).subi(images).muli(mask));
    }
}
