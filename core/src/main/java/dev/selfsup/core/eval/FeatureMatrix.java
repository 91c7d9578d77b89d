package dev.selfsup.core.eval;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.GradMode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Frozen features of a dataset, {@code rows x dim} float32, read back in chunks: held on the device when they fit a
 * budget, else written to a file batch by batch as they are computed and read chunk by chunk (a million 2048-d
 * features are 8 GB). Either way, no step holds more than one chunk of them beyond the budget.
 */
public final class FeatureMatrix implements AutoCloseable {
    private final long rows;
    private final int dim;
    private final NDArray inMemory;
    private final Path file;
    private final FileChannel channel;
    // One buffer for every chunk read: a new direct buffer per chunk is freed only when the GC runs, and a probe's
    // thousands of reads then held a gigabyte of them (measured: peak RSS 3.2 GB against 1.4 GB in memory).
    private ByteBuffer readBuffer;

    private FeatureMatrix(long rows, int dim, NDArray inMemory, Path file, FileChannel channel) {
        this.rows = rows;
        this.dim = dim;
        this.inMemory = inMemory;
        this.file = file;
        this.channel = channel;
    }

    /** Features already computed, in memory. */
    public static FeatureMatrix of(NDArray features) {
        return new FeatureMatrix(
                features.getShape().get(0), (int) features.getShape().get(1), features, null, null);
    }

    /**
     * The encoder's representation of every image, in dataset order, computed batch by batch in inference mode.
     *
     * @param budgetBytes features up to this size stay in {@code manager}; larger ones go to a file in {@code dir}
     */
    public static FeatureMatrix extract(
            Block encoder, ImageDataset data, int batchSize, NDManager manager, long budgetBytes, Path dir) {
        int[] order = new int[data.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        return extract(encoder, data, order, batchSize, manager, budgetBytes, dir);
    }

    /**
     * As {@link #extract(Block, ImageDataset, int, NDManager, long, Path)}, row {@code r} being image
     * {@code order[r]}: a shuffled order lets a reader of consecutive chunks see every class (image folders list
     * their images class by class).
     */
    public static FeatureMatrix extract(
            Block encoder,
            ImageDataset data,
            int[] order,
            int batchSize,
            NDManager manager,
            long budgetBytes,
            Path dir) {
        GradMode.disableOnThisThread();
        Device device = manager.getDevice();
        ParameterStore ps = new ParameterStore(manager, false);
        NDList parts = new NDList();
        FileChannel out = null;
        Path file = null;
        int dim = -1;
        try {
            for (int from = 0; from < order.length; from += batchSize) {
                int n = Math.min(batchSize, order.length - from);
                try (NDManager batch = manager.newSubManager()) {
                    NDArray x = Features.images(data, order, from, n, batch, device);
                    NDArray h = encoder.forward(ps, new NDList(x), false).singletonOrThrow();
                    if (dim < 0) {
                        dim = (int) h.getShape().get(1);
                        if ((long) order.length * dim * Float.BYTES > budgetBytes) {
                            Files.createDirectories(dir);
                            file = Files.createTempFile(dir, "features-", ".f32");
                            out = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
                        }
                    }
                    if (out == null) {
                        h.attach(manager);
                        parts.add(h);
                    } else {
                        ByteBuffer b = h.toType(DataType.FLOAT32, false).toByteBuffer();
                        while (b.hasRemaining()) {
                            out.write(b);
                        }
                    }
                }
            }
        } catch (IOException e) {
            closeQuietly(out, file);
            throw new UncheckedIOException("cannot write features to " + dir, e);
        }
        if (out != null) {
            return new FeatureMatrix(order.length, dim, null, file, out);
        }
        NDArray all = ai.djl.ndarray.NDArrays.concat(parts, 0);
        parts.close();
        return of(all);
    }

    public long rows() {
        return rows;
    }

    public int dim() {
        return dim;
    }

    /** True when the features are held in memory, not in a file. */
    public boolean inMemory() {
        return inMemory != null;
    }

    /** All of them as one array, when held in memory. */
    public NDArray all() {
        if (inMemory == null) {
            throw new IllegalStateException("the features are in a file: read them by chunk");
        }
        return inMemory;
    }

    /**
     * Rows {@code [from, from + n)} as float32 {@code [n, dim]} in {@code manager}, on its device. Not for several
     * threads at once.
     */
    public NDArray chunk(long from, int n, NDManager manager) {
        if (inMemory != null) {
            NDArray c = inMemory.get(from + ":" + (from + n));
            c.attach(manager);
            return c;
        }
        int bytes = n * dim * Float.BYTES;
        if (readBuffer == null || readBuffer.capacity() < bytes) {
            readBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
        }
        ByteBuffer b = readBuffer.clear().limit(bytes);
        try {
            long at = from * dim * Float.BYTES;
            while (b.hasRemaining()) {
                int r = channel.read(b, at + b.position());
                if (r < 0) {
                    throw new IOException("the feature file ends early");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read features from " + file, e);
        }
        b.flip();
        NDArray c = manager.create(b.asFloatBuffer(), new Shape(n, dim));
        return c.toDevice(manager.getDevice(), false);
    }

    /** Frees the features: the array, or the file. */
    @Override
    public void close() {
        if (inMemory != null) {
            inMemory.close();
        }
        closeQuietly(channel, file);
    }

    private static void closeQuietly(FileChannel channel, Path file) {
        try {
            if (channel != null) {
                channel.close();
            }
            if (file != null) {
                Files.deleteIfExists(file);
            }
        } catch (IOException ignored) {
            // a temporary file left behind is all that can go wrong here
        }
    }
}
