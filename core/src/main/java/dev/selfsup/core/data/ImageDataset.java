package dev.selfsup.core.data;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32;

/**
 * Images held in memory as unsigned bytes in NCHW order, with optional integer labels.
 *
 * <p>Bytes rather than floats: Fashion-MNIST is 55 MB this way (220 MB as floats), and a batch is sent
 * to the device as bytes and converted there, which moves four times less data per step.
 */
public final class ImageDataset {
    private final String name;
    private final byte[] pixels;
    private final int[] labels;
    private final int size;
    private final int channels;
    private final int height;
    private final int width;
    private final List<String> classNames;

    /**
     * @param name a name for provenance, e.g. "fashion-mnist/train"
     * @param pixels {@code size * channels * height * width} bytes, image after image, each in CHW order
     * @param labels one label per image in {@code [0, classNames.size())}, or null when unlabeled
     * @param classNames the class names, empty when unlabeled
     */
    public ImageDataset(
            String name,
            byte[] pixels,
            int[] labels,
            int size,
            int channels,
            int height,
            int width,
            List<String> classNames) {
        this.name = Objects.requireNonNull(name);
        if (size < 0 || channels <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException(
                    "bad dataset shape " + size + "x" + channels + "x" + height + "x" + width);
        }
        if ((long) size * channels * height * width != pixels.length) {
            throw new IllegalArgumentException("pixel buffer has " + pixels.length + " bytes, shape needs "
                    + (long) size * channels * height * width);
        }
        if (labels != null) {
            if (labels.length != size) {
                throw new IllegalArgumentException(labels.length + " labels for " + size + " images");
            }
            for (int label : labels) {
                if (label < 0 || label >= classNames.size()) {
                    throw new IllegalArgumentException("label " + label + " outside [0, " + classNames.size() + ")");
                }
            }
        }
        this.pixels = pixels;
        this.labels = labels;
        this.size = size;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.classNames = List.copyOf(classNames);
    }

    public String name() {
        return name;
    }

    public int size() {
        return size;
    }

    public int channels() {
        return channels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /** Bytes per image. */
    public int imageBytes() {
        return channels * height * width;
    }

    public boolean hasLabels() {
        return labels != null;
    }

    public int numClasses() {
        return classNames.size();
    }

    public List<String> classNames() {
        return classNames;
    }

    /** The label of image {@code i}; fails on an unlabeled dataset. */
    public int label(int i) {
        if (labels == null) {
            throw new IllegalStateException(name + " has no labels");
        }
        return labels[i];
    }

    /** A copy of the labels, or null. */
    public int[] labels() {
        return labels == null ? null : labels.clone();
    }

    /** The raw byte of image {@code i} at channel {@code c}, row {@code y}, column {@code x}, as 0-255. */
    public int pixel(int i, int c, int y, int x) {
        return pixels[((i * channels + c) * height + y) * width + x] & 0xff;
    }

    /** Copies the bytes of the images at {@code indices}, in that order, into {@code out} from its position. */
    public void copyImages(int[] indices, int from, int count, ByteBuffer out) {
        int bytes = imageBytes();
        for (int k = 0; k < count; k++) {
            out.put(pixels, indices[from + k] * bytes, bytes);
        }
    }

    /** The first {@code limit} images (all when limit is non-positive or larger than the dataset). */
    public ImageDataset head(int limit) {
        if (limit <= 0 || limit >= size) {
            return this;
        }
        return new ImageDataset(
                name + "[:" + limit + "]",
                Arrays.copyOf(pixels, limit * imageBytes()),
                labels == null ? null : Arrays.copyOf(labels, limit),
                limit,
                channels,
                height,
                width,
                classNames);
    }

    /** Images {@code from .. to} (exclusive), e.g. a held-out tail. */
    public ImageDataset slice(int from, int to) {
        if (from < 0 || to > size || from >= to) {
            throw new IllegalArgumentException("slice [" + from + ", " + to + ") of " + size + " images");
        }
        return new ImageDataset(
                name + "[" + from + ":" + to + "]",
                Arrays.copyOfRange(pixels, from * imageBytes(), to * imageBytes()),
                labels == null ? null : Arrays.copyOfRange(labels, from, to),
                to - from,
                channels,
                height,
                width,
                classNames);
    }

    /** The same images without labels, as a pretraining run sees them. */
    public ImageDataset withoutLabels() {
        return new ImageDataset(name, pixels, null, size, channels, height, width, List.of());
    }

    /** A CRC32 of shape, pixels and labels: provenance can name exactly which data a model saw. */
    public String fingerprint() {
        CRC32 crc = new CRC32();
        crc.update(ByteBuffer.allocate(16)
                .putInt(size)
                .putInt(channels)
                .putInt(height)
                .putInt(width)
                .array());
        crc.update(pixels);
        if (labels != null) {
            ByteBuffer b = ByteBuffer.allocate(labels.length * 4);
            b.asIntBuffer().put(labels);
            crc.update(b.array());
        }
        return String.format("crc32:%08x", crc.getValue());
    }

    @Override
    public String toString() {
        return name + " (" + size + " images " + channels + "x" + height + "x" + width
                + (labels != null ? ", " + classNames.size() + " classes" : ", unlabeled") + ")";
    }
}
