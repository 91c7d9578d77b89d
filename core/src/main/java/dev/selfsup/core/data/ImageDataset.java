package dev.selfsup.core.data;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32;

/**
 * Images as unsigned bytes in CHW order, with optional integer labels. The pixels are held in memory, or stay
 * encoded on disk and are decoded as they are read ({@link ImageStore}); either way an image reads the same.
 *
 * <p>Bytes rather than floats: Fashion-MNIST is 55 MB this way (220 MB as floats), and a batch is sent
 * to the device as bytes and converted there, which moves four times less data per step.
 */
public final class ImageDataset {
    private final String name;
    private final ImageStore store;
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
        this(
                name,
                new ArrayImageStore(pixels, Math.max(1, channels * height * width)),
                labels,
                size,
                channels,
                height,
                width,
                classNames,
                pixels.length);
    }

    /**
     * A dataset whose pixels come from {@code store}, e.g. an {@link ImageFileStore} that decodes on demand.
     *
     * @param store {@code size} images of {@code channels * height * width} bytes each
     */
    public ImageDataset(
            String name, ImageStore store, int[] labels, int channels, int height, int width, List<String> classNames) {
        this(
                name,
                store,
                labels,
                store.size(),
                channels,
                height,
                width,
                classNames,
                (long) store.size() * store.imageBytes());
    }

    private ImageDataset(
            String name,
            ImageStore store,
            int[] labels,
            int size,
            int channels,
            int height,
            int width,
            List<String> classNames,
            long storedBytes) {
        this.name = Objects.requireNonNull(name);
        if (size < 0 || channels <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException(
                    "bad dataset shape " + size + "x" + channels + "x" + height + "x" + width);
        }
        if ((long) size * channels * height * width != storedBytes || store.imageBytes() != channels * height * width) {
            throw new IllegalArgumentException("the pixels have " + storedBytes + " bytes, shape needs "
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
        this.store = store;
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

    /**
     * The raw byte of image {@code i} at channel {@code c}, row {@code y}, column {@code x}, as 0-255. On a dataset
     * that is not in memory this decodes the image: to visit many pixels, take the {@link #image} once.
     */
    public int pixel(int i, int c, int y, int x) {
        int at = (c * height + y) * width + x;
        if (store instanceof ArrayImageStore a) {
            return a.byteAt(i, at);
        }
        return image(i)[at] & 0xff;
    }

    /** Image {@code i}'s {@link #imageBytes} bytes in CHW order (a copy). */
    public byte[] image(int i) {
        byte[] out = new byte[imageBytes()];
        store.read(i, out, 0);
        return out;
    }

    /**
     * Copies the bytes of the images at {@code indices}, in that order, into {@code out} from its position. Images
     * on disk are decoded in parallel.
     */
    public void copyImages(int[] indices, int from, int count, ByteBuffer out) {
        store.read(indices, from, count, out);
    }

    /** True when the pixels are all in memory; false when images are decoded from disk as they are read. */
    public boolean inMemory() {
        return store.inMemory();
    }

    /** Where the pixels come from. */
    public ImageStore store() {
        return store;
    }

    /** The first {@code limit} images (all when limit is non-positive or larger than the dataset). */
    public ImageDataset head(int limit) {
        if (limit <= 0 || limit >= size) {
            return this;
        }
        return new ImageDataset(
                name + "[:" + limit + "]",
                store.range(0, limit),
                labels == null ? null : Arrays.copyOf(labels, limit),
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
                store.range(from, to),
                labels == null ? null : Arrays.copyOfRange(labels, from, to),
                channels,
                height,
                width,
                classNames);
    }

    /** The same images without labels, as a pretraining run sees them. */
    public ImageDataset withoutLabels() {
        return new ImageDataset(name, store, null, channels, height, width, List.of());
    }

    /**
     * A CRC32 of shape, pixels and labels: provenance can name exactly which data a model saw. For images on disk,
     * the file listing stands for the pixels (see {@link ImageFileStore#fingerprint}).
     */
    public String fingerprint() {
        CRC32 crc = new CRC32();
        crc.update(ByteBuffer.allocate(16)
                .putInt(size)
                .putInt(channels)
                .putInt(height)
                .putInt(width)
                .array());
        store.fingerprint(crc);
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
                + (labels != null ? ", " + classNames.size() + " classes" : ", unlabeled")
                + (store.inMemory() ? "" : ", read from disk") + ")";
    }
}
