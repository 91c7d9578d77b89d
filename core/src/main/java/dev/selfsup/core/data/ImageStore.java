package dev.selfsup.core.data;

import java.nio.ByteBuffer;
import java.util.zip.CRC32;

/**
 * Where a dataset's pixels live: all decoded in memory, or encoded on disk and decoded when a batch needs them.
 * Every image comes out as the same {@code channels x height x width} bytes (CHW), whichever the store.
 */
public interface ImageStore {
    /** The number of images. */
    int size();

    /** Bytes per decoded image. */
    int imageBytes();

    /** Decodes image {@code index} into {@code out} at {@code offset}. */
    void read(int index, byte[] out, int offset);

    /**
     * Copies the images {@code indices[from .. from+count)}, in that order, into {@code out} from its position. A
     * store on disk decodes them on its worker threads.
     */
    void read(int[] indices, int from, int count, ByteBuffer out);

    /** The images {@code [from, to)} as a store of their own. */
    ImageStore range(int from, int to);

    /** True when every image is held decoded in memory: a whole pass over it costs no decoding. */
    boolean inMemory();

    /** Adds what identifies the images to {@code crc}: the pixels in memory, the file listing on disk. */
    void fingerprint(CRC32 crc);
}
