package dev.selfsup.cli;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * The first images of an IDX images file (MNIST family: unsigned bytes, 3 dimensions), plain or gzipped: all
 * the client needs to send a few test images, without the learning library.
 *
 * @param count images read
 * @param height rows of each image
 * @param width columns of each image
 * @param pixels {@code count * height * width} grey values, row-major
 */
record IdxImages(int count, int height, int width, byte[] pixels) {
    private static final int IMAGES_MAGIC = 0x00000803;

    /** Reads at most {@code limit} images of {@code file}. */
    static IdxImages read(Path file, int limit) throws IOException {
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file))) {
            raw.mark(2);
            boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
            raw.reset();
            DataInputStream in = new DataInputStream(gzip ? new GZIPInputStream(raw) : raw);
            int magic = in.readInt();
            if (magic != IMAGES_MAGIC) {
                throw new IOException(file.getFileName() + " is not an IDX images file (magic "
                        + Integer.toHexString(magic) + ", expected 803)");
            }
            int n = Math.min(limit, in.readInt());
            int h = in.readInt();
            int w = in.readInt();
            if (n < 0 || h <= 0 || w <= 0 || (long) n * h * w > Integer.MAX_VALUE) {
                throw new IOException(file.getFileName() + ": bad dimensions " + n + "x" + h + "x" + w);
            }
            byte[] pixels = new byte[n * h * w];
            in.readFully(pixels);
            return new IdxImages(n, h, w, pixels);
        }
    }
}
