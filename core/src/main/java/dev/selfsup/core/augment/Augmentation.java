package dev.selfsup.core.augment;

import ai.djl.ndarray.NDArray;
import java.util.Random;

/**
 * A random image transformation applied to a whole batch at once, on the batch's device.
 *
 * <p>Each image gets its own random parameters, drawn from {@code rng} in batch order on the host (a few
 * numbers per image) and sent to the device as one small array; the pixels never leave the device. The same
 * rng state gives the same output, which makes runs repeatable and resumable.
 */
public interface Augmentation {
    /**
     * @param images float32 {@code [B, C, H, W]} in [0, 1]
     * @return a new float32 {@code [B, C, H', W']} in [0, 1]
     */
    NDArray apply(NDArray images, Random rng);
}
