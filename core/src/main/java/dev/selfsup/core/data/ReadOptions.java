package dev.selfsup.core.data;

/**
 * How an image folder is read.
 *
 * @param inMemoryMaxBytes a folder whose decoded pixels fit in this many bytes is decoded once, up front, and held in
 *     memory; a larger one stays on disk and is decoded as batches need it. 0 means a quarter of the maximum heap.
 * @param decodeThreads the threads that decode images, up front or during training; 0 means one per processor
 */
public record ReadOptions(long inMemoryMaxBytes, int decodeThreads) {
    /** The defaults: a quarter of the heap in memory, one decoding thread per processor. */
    public static final ReadOptions DEFAULT = new ReadOptions(0, 0);

    public ReadOptions {
        if (inMemoryMaxBytes < 0 || decodeThreads < 0) {
            throw new IllegalArgumentException("in-memory limit and decoding threads must not be negative: "
                    + inMemoryMaxBytes + ", " + decodeThreads);
        }
    }

    /** The in-memory limit in bytes, resolved: never above what one Java array holds. */
    public long resolvedInMemoryMaxBytes() {
        long limit =
                inMemoryMaxBytes > 0 ? inMemoryMaxBytes : Runtime.getRuntime().maxMemory() / 4;
        return Math.min(limit, ImageFolderReader.MAX_PIXEL_BYTES);
    }

    /** The number of decoding threads, resolved. */
    public int resolvedDecodeThreads() {
        return decodeThreads > 0 ? decodeThreads : Runtime.getRuntime().availableProcessors();
    }

    /** These options with every image always read from disk (tests, benchmarks). */
    public static ReadOptions streamed(int decodeThreads) {
        return new ReadOptions(1, decodeThreads);
    }
}
