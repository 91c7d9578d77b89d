package dev.selfsup.core.data;

import dev.selfsup.core.engine.EngineThreads;
import java.awt.image.BufferedImage;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Images left encoded on disk and decoded when they are read, on a pool of worker threads: memory holds the file
 * names and the batches in flight, whatever the number of images.
 *
 * <p>A file that cannot be decoded mid-run does not stop training: the next decodable image of the listing stands
 * in for it (always the same one, so the run stays repeatable), the file is logged once and counted.
 */
public final class ImageFileStore implements ImageStore {
    private static final Logger LOG = LoggerFactory.getLogger(ImageFileStore.class);
    /** How many following images are tried in place of one that cannot be decoded. */
    private static final int MAX_STAND_INS = 16;

    private final Path root;
    private final String[] files;
    private final int channels;
    private final int side;
    private final ThreadPoolExecutor workers;
    private final ThreadLocal<byte[]> scratch;
    private final Set<String> broken;
    private final LongAdder decoded;
    private final LongAdder decodeNanos;

    /**
     * @param root the folder the names are relative to
     * @param files the images' paths relative to {@code root}, in dataset order
     * @param channels 1 or 3
     * @param side the side every image is resized to
     * @param threads decoding threads (at least 1)
     */
    public ImageFileStore(Path root, List<String> files, int channels, int side, int threads) {
        this(
                root,
                files.toArray(String[]::new),
                channels,
                side,
                pool(threads),
                ConcurrentHashMap.newKeySet(),
                new LongAdder(),
                new LongAdder());
    }

    private ImageFileStore(
            Path root,
            String[] files,
            int channels,
            int side,
            ThreadPoolExecutor workers,
            Set<String> broken,
            LongAdder decoded,
            LongAdder decodeNanos) {
        this.root = root;
        this.files = files;
        this.channels = channels;
        this.side = side;
        this.workers = workers;
        this.broken = broken;
        this.decoded = decoded;
        this.decodeNanos = decodeNanos;
        int bytes = channels * side * side;
        this.scratch = ThreadLocal.withInitial(() -> new byte[bytes]);
    }

    private static ThreadPoolExecutor pool(int threads) {
        int n = Math.max(1, threads);
        ThreadPoolExecutor p = new ThreadPoolExecutor(
                n, n, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), EngineThreads.factory("selfsup-decode"));
        // Idle workers end: a dataset kept in a cache costs no threads between runs.
        p.allowCoreThreadTimeOut(true);
        return p;
    }

    @Override
    public int size() {
        return files.length;
    }

    @Override
    public int imageBytes() {
        return channels * side * side;
    }

    /** The number of decoding threads. */
    public int threads() {
        return workers.getMaximumPoolSize();
    }

    /** The files that could not be decoded so far (relative to the root), each stood in for by another image. */
    public Set<String> brokenFiles() {
        return Set.copyOf(broken);
    }

    /** Images decoded so far (by this store and the ranges cut from it). */
    public long decodedImages() {
        return decoded.sum();
    }

    /** Thread time spent decoding so far, in seconds (summed over the threads). */
    public double decodeSeconds() {
        return decodeNanos.sum() / 1e9;
    }

    /**
     * Images decoded per second of one thread's time: read, decode, resize and convert, summed over the threads.
     * 0 before the first image.
     */
    public double decodeRatePerThread() {
        long nanos = decodeNanos.sum();
        return nanos == 0 ? 0 : decoded.sum() / (nanos / 1e9);
    }

    @Override
    public void read(int index, byte[] out, int offset) {
        read(index, null, out, offset);
    }

    /**
     * Decodes image {@code index} (or the one standing in for it) and, when {@code crop} is given, a box of it
     * drawn by {@code crop} from the source's own size, resized to the training size.
     */
    private void read(int index, java.util.function.Function<BufferedImage, int[]> crop, byte[] out, int offset) {
        DatasetFormatException first = null;
        for (int k = 0; k <= MAX_STAND_INS && k < files.length; k++) {
            int i = (index + k) % files.length;
            try {
                long t0 = System.nanoTime();
                BufferedImage img = ImageFolderReader.decode(root.resolve(files[i]));
                if (crop == null) {
                    ImageFolderReader.toChw(img, channels, side, out, offset);
                } else {
                    int[] box = crop.apply(img);
                    ImageFolderReader.toChw(img, box[0], box[1], box[2], box[3], channels, side, out, offset);
                }
                decodeNanos.add(System.nanoTime() - t0);
                decoded.increment();
                return;
            } catch (DatasetFormatException e) {
                if (broken.add(files[i])) {
                    LOG.warn(
                            "image {} cannot be decoded and is replaced by the next one: {}", files[i], e.getMessage());
                }
                if (first == null) {
                    first = e;
                }
            } catch (java.io.IOException e) {
                first = first != null ? first : new DatasetFormatException(root.resolve(files[i]), e.getMessage(), e);
            }
        }
        throw new UncheckedIOException(new DatasetFormatException(
                root.resolve(files[index]),
                "cannot be decoded, nor can the " + Math.min(MAX_STAND_INS, files.length - 1)
                        + " images after it that could stand in for it",
                first));
    }

    @Override
    public void read(int[] indices, int from, int count, ByteBuffer out) {
        decodeAll(count, 1, (k, img) -> read(indices[from + k], null, img, 0), out);
    }

    /**
     * Decodes the images {@code indices[from .. from+count)} once per view, each view a crop of the source image
     * drawn by {@code views}, into {@code out} view after view: {@code views.count() x count} images. The boxes are
     * a pure function of (seed, step, view, image), so a resumed run crops the same ones.
     */
    public void readViews(int[] indices, int from, int count, HostViews views, long seed, long step, ByteBuffer out) {
        decodeAll(
                count,
                views.count(),
                (job, img) -> {
                    int view = job / count;
                    int k = job % count;
                    java.util.Random rng = HostViews.random(seed, step, view, k);
                    read(
                            indices[from + k],
                            source -> views.crops().box(source.getHeight(), source.getWidth(), rng),
                            img,
                            0);
                },
                out);
    }

    /** One image's decode: job {@code job} into {@code img}. */
    private interface DecodeJob {
        void run(int job, byte[] img);
    }

    /** Runs {@code count x views} decodes on the worker threads, job {@code j} into image slot {@code j} of out. */
    private void decodeAll(int count, int views, DecodeJob job, ByteBuffer out) {
        int start = out.position();
        int bytes = imageBytes();
        int jobs = count * views;
        if (out.remaining() < (long) jobs * bytes) {
            throw new IllegalArgumentException(
                    jobs + " images need " + (long) jobs * bytes + " bytes, the buffer has " + out.remaining());
        }
        AtomicInteger next = new AtomicInteger();
        Runnable task = () -> {
            byte[] img = scratch.get();
            for (int j; (j = next.getAndIncrement()) < jobs; ) {
                job.run(j, img);
                out.put(start + j * bytes, img, 0, bytes);
            }
        };
        int n = Math.min(jobs, threads());
        Future<?>[] running = new Future<?>[n];
        for (int t = 0; t < n; t++) {
            running[t] = workers.submit(task);
        }
        try {
            for (Future<?> f : running) {
                f.get();
            }
        } catch (InterruptedException e) {
            next.set(jobs);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while decoding a batch", e);
        } catch (ExecutionException e) {
            next.set(jobs);
            Throwable c = e.getCause();
            throw c instanceof RuntimeException r ? r : new IllegalStateException(c);
        }
        out.position(start + jobs * bytes);
    }

    @Override
    public ImageStore range(int from, int to) {
        return new ImageFileStore(
                root, Arrays.copyOfRange(files, from, to), channels, side, workers, broken, decoded, decodeNanos);
    }

    @Override
    public boolean inMemory() {
        return false;
    }

    /**
     * The listing, not the pixels: reading every file to fingerprint a dataset of a million images would cost a whole
     * pass over the disk before the first step. A renamed, added or removed file changes it.
     */
    @Override
    public void fingerprint(CRC32 crc) {
        for (String f : files) {
            crc.update(f.getBytes(StandardCharsets.UTF_8));
            crc.update(0);
        }
    }
}
