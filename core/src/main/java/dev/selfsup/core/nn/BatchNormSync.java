package dev.selfsup.core.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.Scalars;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;

/**
 * Synchronised batch norm for one forward pass split over data-parallel replicas, each replica running in its own
 * thread: at every {@link BatchNorm} layer each replica publishes the mean and variance of its shard, waits for
 * the others, and normalises with the statistics of the whole batch. The exchange is made of ordinary array
 * operations (copies between devices included), so the gradient flows through it like through any other layer
 * and a step over N replicas equals a step over the whole batch on one device.
 *
 * <p>Shards are combined with the parallel-variance formula (each shard's mean and centred variance, weighted by
 * its size), which loses less precision than sums of squares. Replicas must call their batch-norm layers in the
 * same order, which holds when they run the same block.
 */
public final class BatchNormSync {
    private static final ThreadLocal<Member> CURRENT = new ThreadLocal<>();

    private final int replicas;
    private final CyclicBarrier barrier;
    // Two generations of slots: a replica that is one layer ahead writes the other generation, and it cannot be two
    // layers ahead, because the next barrier waits for everyone.
    private final Stats[][] slots;

    private record Stats(NDArray mean, NDArray var, long count) {}

    /** A group for one forward pass over {@code replicas} shards. */
    public BatchNormSync(int replicas) {
        if (replicas < 1) {
            throw new IllegalArgumentException("replicas must be positive, got " + replicas);
        }
        this.replicas = replicas;
        this.barrier = new CyclicBarrier(replicas);
        this.slots = new Stats[2][replicas];
    }

    /** The member the calling thread acts as, or null when its batch norm is not synchronised. */
    public static Member current() {
        return CURRENT.get();
    }

    /** Makes the calling thread replica {@code index} of this group until {@link Member#close}. */
    public Member join(int index) {
        if (index < 0 || index >= replicas) {
            throw new IllegalArgumentException("replica " + index + " of " + replicas);
        }
        Member m = new Member(index);
        CURRENT.set(m);
        return m;
    }

    /** Releases every replica waiting in this group; they fail with an IllegalStateException. */
    public void abort() {
        barrier.reset();
    }

    private void await() {
        try {
            barrier.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            barrier.reset();
            throw new IllegalStateException("interrupted while waiting for the other replicas", e);
        } catch (BrokenBarrierException e) {
            throw new IllegalStateException("another replica failed during the forward pass", e);
        }
    }

    /** One replica's part in the group, bound to the thread that joined. */
    public final class Member implements AutoCloseable {
        private final int index;
        private int layer;

        private Member(int index) {
            this.index = index;
        }

        /**
         * {@code x} normalised with the whole batch's statistics, scaled and shifted; the running statistics (this
         * replica's copy) are updated with them as the engine's kernel would (unbiased variance).
         */
        NDArray normalize(
                NDArray x,
                NDArray runningMean,
                NDArray runningVar,
                NDArray gamma,
                NDArray beta,
                float momentum,
                float eps) {
            int rank = x.getShape().dimension();
            int[] axes = new int[rank - 1];
            axes[0] = 0;
            for (int a = 2; a < rank; a++) {
                axes[a - 1] = a;
            }
            long channels = x.getShape().get(1);
            long count = x.getShape().size() / channels;
            long[] bshape = new long[rank];
            java.util.Arrays.fill(bshape, 1);
            bshape[1] = channels;
            Shape broadcast = new Shape(bshape);

            // Sums over several axes (the engine's mean takes one axis only), divided by the count.
            NDArray localMean = Scalars.div(x.sum(axes), (float) count);
            NDArray localVar =
                    Scalars.div(x.sub(localMean.reshape(broadcast)).square().sum(axes), (float) count);
            Stats[] mine = slots[layer & 1];
            layer++;
            mine[index] = new Stats(localMean, localVar, count);
            await();
            Device device = x.getDevice();
            long total = 0;
            for (Stats s : mine) {
                total += s.count();
            }
            NDArray mean = null;
            for (Stats s : mine) {
                NDArray term = Scalars.mul(s.mean().toDevice(device, false), (float) s.count() / total);
                mean = mean == null ? term : mean.add(term);
            }
            NDArray var = null;
            for (Stats s : mine) {
                NDArray shift = s.mean().toDevice(device, false).sub(mean).square();
                NDArray term = Scalars.mul(s.var().toDevice(device, false).add(shift), (float) s.count() / total);
                var = var == null ? term : var.add(term);
            }
            NDArray y = x.sub(mean.reshape(broadcast))
                    .div(var.add(eps).sqrt().reshape(broadcast))
                    .mul(gamma.reshape(broadcast))
                    .add(beta.reshape(broadcast));
            // The running statistics take no part in the graph: detached values, updated in place.
            NDArray m = mean.stopGradient();
            NDArray v = Scalars.mul(var.stopGradient(), total > 1 ? (float) total / (total - 1) : 1f);
            Scalars.muli(runningMean, momentum).addi(Scalars.muli(m, 1 - momentum));
            Scalars.muli(runningVar, momentum).addi(Scalars.muli(v, 1 - momentum));
            return y;
        }

        /**
         * Waits until every replica has finished its forward pass, so no replica frees the statistics it published
         * while another still reads them, then leaves the group.
         */
        @Override
        public void close() {
            try {
                await();
            } finally {
                CURRENT.remove();
            }
        }

        /** Leaves the group without waiting (after a failure; the group has been aborted). */
        public void leave() {
            CURRENT.remove();
        }
    }
}
