package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.Random;

/** Turns each colour image grey (kept as three equal channels) with probability {@code p}; grey input is unchanged. */
public final class RandomGrayscale implements Augmentation {
    private final double p;

    public RandomGrayscale(double p) {
        this.p = p;
    }

    @Override
    public NDArray apply(NDArray images, Random rng) {
        int b = (int) images.getShape().get(0);
        float[] grey = new float[b];
        for (int i = 0; i < b; i++) {
            grey[i] = rng.nextDouble() < p ? 1f : 0f;
        }
        if (images.getShape().get(1) == 1) {
            return images.duplicate();
        }
        NDArray mask = images.getManager().create(grey, new Shape(b, 1, 1, 1)).toDevice(images.getDevice(), false);
        NDArray g = Luma.of(images);
        return images.add(g.sub(images).muli(mask));
    }
}
