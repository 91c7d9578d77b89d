package dev.selfsup.core.method;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.engine.Bfloat16;

/**
 * How a training step runs a block over its batch: on one device ({@link #ONE_DEVICE}), or split over
 * data-parallel replicas with the outputs gathered back in batch order on the first device. A method that runs
 * its networks through {@link StepContext#forward} trains on several devices without knowing it.
 */
public interface BatchForward {
    /**
     * The block's training-mode output for the parts concatenated along axis 0. Each part is {@code [B, ...]} with
     * row i belonging to image i of the batch (two views, four rotations), so a replica is given the same images in
     * every part: its share of rows {@code [i B / N, (i + 1) B / N)} of each part.
     */
    NDArray forward(Block block, ParameterStore parameters, NDArray... parts);

    /**
     * As {@link #forward} for one part, but with the rows dealt to the replicas in a shuffled order and put back in
     * batch order after: MoCo's shuffle-BN, so a key's batch statistics come from other images than its query's.
     * The order is a function of {@code seed}, so a resumed run repeats it. On one device this is {@link #forward}.
     */
    NDArray forwardShuffled(Block block, ParameterStore parameters, long seed, NDArray x);

    /** The number of replicas the batch is split over. */
    int replicas();

    /**
     * {@code inner} with every forward pass inside a bfloat16 region on {@code device}
     * ({@link Bfloat16#compute}) and its output cast back to float32 before the loss sees it: the
     * networks compute in bfloat16, the losses, gradients' accumulation and optimizer stay in float32.
     */
    static BatchForward inBfloat16(BatchForward inner, Device device) {
        return new BatchForward() {
            @Override
            public NDArray forward(Block block, ParameterStore parameters, NDArray... parts) {
                return Bfloat16.compute(device, () -> inner.forward(block, parameters, parts));
            }

            @Override
            public NDArray forwardShuffled(Block block, ParameterStore parameters, long seed, NDArray x) {
                return Bfloat16.compute(device, () -> inner.forwardShuffled(block, parameters, seed, x));
            }

            @Override
            public int replicas() {
                return inner.replicas();
            }
        };
    }

    /** One device: the whole batch in one forward pass. */
    BatchForward ONE_DEVICE = new BatchForward() {
        @Override
        public NDArray forward(Block block, ParameterStore parameters, NDArray... parts) {
            NDArray x = parts.length == 1 ? parts[0] : NDArrays.concat(new NDList(parts), 0);
            return block.forward(parameters, new NDList(x), true).singletonOrThrow();
        }

        @Override
        public NDArray forwardShuffled(Block block, ParameterStore parameters, long seed, NDArray x) {
            return forward(block, parameters, x);
        }

        @Override
        public int replicas() {
            return 1;
        }
    };
}
