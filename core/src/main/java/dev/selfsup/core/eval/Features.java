package dev.selfsup.core.eval;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Bfloat16;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.engine.Scalars;
import java.nio.ByteBuffer;
import java.util.function.Supplier;

/** Frozen features of a dataset: an encoder's representations in inference mode, or the raw pixels. */
public final class Features {
    private Features() {}

    /** The encoder's representation h of every image, in dataset order: {@code [N, D]} in {@code manager}. */
    public static NDArray extract(Block encoder, ImageDataset data, int batchSize, NDManager manager) {
        return extract(encoder, data, batchSize, manager, false);
    }

    /**
     * As {@link #extract(Block, ImageDataset, int, NDManager)}, with the encoder's forward passes in bfloat16 when
     * {@code bfloat16} (a run that trains in it, {@link Bfloat16}); the features come back in float32.
     */
    public static NDArray extract(
            Block encoder, ImageDataset data, int batchSize, NDManager manager, boolean bfloat16) {
        GradMode.disableOnThisThread();
        Device device = manager.getDevice();
        NDList parts = new NDList();
        int[] order = new int[data.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        ParameterStore ps = new ParameterStore(manager, false);
        for (int from = 0; from < data.size(); from += batchSize) {
            int n = Math.min(batchSize, data.size() - from);
            try (NDManager batch = manager.newSubManager()) {
                NDArray x = images(data, order, from, n, batch, device);
                Supplier<NDArray> forward =
                        () -> encoder.forward(ps, new NDList(x), false).singletonOrThrow();
                NDArray h = bfloat16 ? Bfloat16.compute(device, forward) : forward.get();
                h.attach(manager);
                parts.add(h);
            }
        }
        NDArray all = NDArrays.concat(parts, 0);
        parts.close();
        return all;
    }

    /** Pixels in [0, 1], flattened: the baseline every encoder must beat. */
    public static NDArray rawPixels(ImageDataset data, NDManager manager) {
        int[] order = new int[data.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        try (NDManager tmp = manager.newSubManager()) {
            NDArray x = images(data, order, 0, data.size(), tmp, manager.getDevice())
                    .reshape(data.size(), -1);
            x.attach(manager);
            return x;
        }
    }

    /** The images {@code order[from .. from+n)} as float32 {@code [n, C, H, W]} in [0, 1] on {@code device}. */
    public static NDArray images(ImageDataset data, int[] order, int from, int n, NDManager manager, Device device) {
        ByteBuffer buf = ByteBuffer.allocateDirect(n * data.imageBytes());
        data.copyImages(order, from, n, buf);
        buf.flip();
        NDArray bytes = manager.create(buf, new Shape(n, data.channels(), data.height(), data.width()), DataType.UINT8);
        return Scalars.divi(bytes.toDevice(device, false).toType(DataType.FLOAT32, false), 255f);
    }

    /** Labels as an int64 array {@code [N]}. */
    public static NDArray labels(ImageDataset data, NDManager manager) {
        int[] l = data.labels();
        long[] v = new long[l.length];
        for (int i = 0; i < l.length; i++) {
            v[i] = l[i];
        }
        return manager.create(v);
    }
}
