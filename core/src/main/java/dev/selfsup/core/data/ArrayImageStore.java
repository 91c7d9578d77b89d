package dev.selfsup.core.data;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32;

/** Decoded images held in one byte array, image after image. */
final class ArrayImageStore implements ImageStore {
    private final byte[] pixels;
    private final int imageBytes;

    ArrayImageStore(byte[] pixels, int imageBytes) {
        this.pixels = pixels;
        this.imageBytes = imageBytes;
    }

    @Override
    public int size() {
        return pixels.length / imageBytes;
    }

    @Override
    public int imageBytes() {
        return imageBytes;
    }

    @Override
    public void read(int index, byte[] out, int offset) {
        System.arraycopy(pixels, index * imageBytes, out, offset, imageBytes);
    }

    @Override
    public void read(int[] indices, int from, int count, ByteBuffer out) {
        for (int k = 0; k < count; k++) {
            out.put(pixels, indices[from + k] * imageBytes, imageBytes);
        }
    }

    @Override
    public ImageStore range(int from, int to) {
        return new ArrayImageStore(Arrays.copyOfRange(pixels, from * imageBytes, to * imageBytes), imageBytes);
    }

    @Override
    public boolean inMemory() {
        return true;
    }

    @Override
    public void fingerprint(CRC32 crc) {
        crc.update(pixels);
    }

    /** The byte of image {@code i} at position {@code at} within it. */
    int byteAt(int i, int at) {
        return pixels[i * imageBytes + at] & 0xff;
    }
}
