package dev.selfsup.core.data;

/**
 * Chooses which images an epoch serves and in what order, when a method needs more than a shuffle (DeepCluster
 * samples uniformly over its clusters). Called from the loader's thread; may block until the order is known.
 */
public interface EpochSampler {
    /**
     * The dataset indices of epoch {@code epoch} in serving order; at least as many as the epoch's full batches
     * need. The same epoch must always give the same order, so a resumed run sees the same batches.
     */
    int[] order(long epoch) throws InterruptedException;
}
