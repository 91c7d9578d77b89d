package dev.selfsup.core.data;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.EngineThreads;
import dev.selfsup.core.engine.Scalars;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Serves shuffled training batches, prepared by a background thread while the current step computes.
 *
 * <p>The order is a pure function of (seed, epoch): batch {@code b} of epoch {@code e} is always the same
 * images, so a run resumed from a checkpoint at step {@code s} sees exactly the batches it would have seen.
 * Only full batches are served (a partial last batch would change the contrastive loss's scale); the
 * remainder of an epoch's permutation is dropped, as SimCLR implementations do.
 *
 * <p>A batch travels as bytes and becomes float32 in [0, 1] on the device: four times less to copy.
 */
public final class BatchLoader implements AutoCloseable {
    private final ImageDataset data;
    private final int batchSize;
    private final long seed;
    private final int batchesPerEpoch;
    private final EpochSampler sampler;
    private final HostViews views;
    private final BlockingQueue<HostBatch> ready = new ArrayBlockingQueue<>(3);
    // Host buffers are recycled: a fresh direct buffer per batch is freed only when the GC happens to run, and
    // RSS then creeps up by hundreds of MB over a long run.
    private final BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(5);
    private final Thread worker;
    private volatile boolean closed;
    private volatile Throwable failure;
    private long waitNanos;

    /** One batch on the host: its step number, dataset indices and the bytes of its images. */
    private record HostBatch(long step, int[] indices, ByteBuffer bytes) {}

    /**
     * A batch of images on the device and which dataset images they are.
     *
     * @param images float32 {@code [batch, C, H, W]} in [0, 1]: the images, or their first view
     * @param indices the dataset index of each image, in batch order
     * @param views the views cropped on the host ({@link HostViews}), each like {@code images}; empty when the
     *     images are whole
     */
    public record Batch(NDArray images, int[] indices, List<NDArray> views) {}

    /**
     * @param firstStep the global step of the first batch to serve (0, or the step a run resumes at)
     */
    public BatchLoader(ImageDataset data, int batchSize, long seed, long firstStep) {
        this(data, batchSize, seed, firstStep, null);
    }

    /**
     * @param firstStep the global step of the first batch to serve (0, or the step a run resumes at)
     * @param sampler each epoch's order, or null for a seeded shuffle
     */
    public BatchLoader(ImageDataset data, int batchSize, long seed, long firstStep, EpochSampler sampler) {
        this(data, batchSize, seed, firstStep, sampler, null);
    }

    /**
     * @param firstStep the global step of the first batch to serve (0, or the step a run resumes at)
     * @param sampler each epoch's order, or null for a seeded shuffle
     * @param views views to crop from the source images on the host, or null for whole images; used only when the
     *     images are read from disk (images in memory were resized when read: the device crops them)
     */
    public BatchLoader(
            ImageDataset data, int batchSize, long seed, long firstStep, EpochSampler sampler, HostViews views) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        if (data.size() < batchSize) {
            throw new IllegalArgumentException(
                    "dataset " + data.name() + " has " + data.size() + " images, fewer than one batch of " + batchSize);
        }
        this.data = data;
        this.batchSize = batchSize;
        this.seed = seed;
        this.batchesPerEpoch = data.size() / batchSize;
        this.sampler = sampler;
        this.views = views != null && data.store() instanceof ImageFileStore ? views : null;
        for (int i = 0; i < 5; i++) {
            free.add(ByteBuffer.allocateDirect(viewCount() * batchSize * data.imageBytes()));
        }
        this.worker = EngineThreads.start("selfsup-batch-loader", () -> produce(firstStep));
    }

    /** Views per image in a batch's buffer: 1 for whole images. */
    private int viewCount() {
        return views == null ? 1 : views.count();
    }

    /** True when batches come as views cropped on the host. */
    public boolean hostViews() {
        return views != null;
    }

    /** Full batches in one epoch. */
    public int batchesPerEpoch() {
        return batchesPerEpoch;
    }

    /** The permutation of epoch {@code epoch}: a seeded Fisher-Yates shuffle. */
    public static int[] permutation(int n, long seed, long epoch) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    private void produce(long firstStep) {
        try {
            long step = firstStep;
            long epoch = -1;
            int[] perm = null;
            while (!closed) {
                long e = step / batchesPerEpoch;
                if (e != epoch) {
                    perm = sampler == null ? permutation(data.size(), seed, e) : sampler.order(e);
                    if (perm.length < batchesPerEpoch * batchSize) {
                        throw new IllegalStateException("the sampler gave " + perm.length + " indices for epoch " + e
                                + ", fewer than " + batchesPerEpoch * batchSize);
                    }
                    epoch = e;
                }
                int from = (int) (step % batchesPerEpoch) * batchSize;
                ByteBuffer buf = null;
                while (!closed && (buf = free.poll(100, TimeUnit.MILLISECONDS)) == null) {
                    // all buffers are in flight
                }
                if (buf == null) {
                    break;
                }
                buf.clear();
                if (views == null) {
                    data.copyImages(perm, from, batchSize, buf);
                } else {
                    ((ImageFileStore) data.store()).readViews(perm, from, batchSize, views, seed, step, buf);
                }
                buf.flip();
                HostBatch hb = new HostBatch(step, Arrays.copyOfRange(perm, from, from + batchSize), buf);
                while (!closed && !ready.offer(hb, 100, TimeUnit.MILLISECONDS)) {
                    // wait for the trainer to take a batch
                }
                step++;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            failure = t;
        }
    }

    /**
     * The next batch as float32 {@code [batch, C, H, W]} in [0, 1] on {@code device}, owned by {@code manager}.
     */
    public NDArray next(NDManager manager, Device device) {
        return nextBatch(manager, device).images();
    }

    /** The next batch with the dataset indices of its images. */
    public Batch nextBatch(NDManager manager, Device device) {
        long t0 = System.nanoTime();
        HostBatch hb;
        try {
            while ((hb = ready.poll(100, TimeUnit.MILLISECONDS)) == null) {
                if (failure != null) {
                    throw new IllegalStateException("batch loader failed: " + failure, failure);
                }
                if (closed) {
                    throw new IllegalStateException("batch loader closed");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a batch", e);
        }
        waitNanos += System.nanoTime() - t0;
        Shape shape = new Shape((long) viewCount() * batchSize, data.channels(), data.height(), data.width());
        // The uint8 array wraps the host buffer without a copy; toType copies, after which the buffer is free.
        NDArray bytes = manager.create(hb.bytes(), shape, DataType.UINT8);
        NDArray onDevice = device.equals(bytes.getDevice()) ? bytes : bytes.toDevice(device, false);
        NDArray floats = Scalars.divi(onDevice.toType(DataType.FLOAT32, true), 255f);
        if (onDevice != bytes) {
            onDevice.close();
        }
        bytes.close();
        free.offer(hb.bytes());
        if (views == null) {
            return new Batch(floats, hb.indices(), List.of());
        }
        NDList parts = floats.split(views.count());
        return new Batch(parts.get(0), hb.indices(), List.copyOf(parts));
    }

    /** Total time the trainer has waited for data, in nanoseconds (should stay near zero). */
    public long waitNanos() {
        return waitNanos;
    }

    @Override
    public void close() {
        closed = true;
        worker.interrupt();
        try {
            worker.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
