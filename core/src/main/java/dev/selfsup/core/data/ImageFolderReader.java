package dev.selfsup.core.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Reads a folder of PNG and JPEG images: with one sub-folder per class (labelled, classes sorted by name),
 * or with the images directly in it (unlabelled). Every image is resized to the requested size. A folder that fits
 * the in-memory limit is decoded once; a larger one is decoded batch by batch as training reads it.
 */
public final class ImageFolderReader {
    private ImageFolderReader() {}

    /**
     * Reads a folder with the {@link ReadOptions#DEFAULT default options}: in memory when it fits a quarter of the
     * heap, else from disk as batches need it.
     *
     * @param channels 1 (grey) or 3 (RGB)
     * @param size the side of the square images the dataset holds
     */
    public static ImageDataset read(String name, Path root, int channels, int size) throws IOException {
        return read(name, root, channels, size, ReadOptions.DEFAULT);
    }

    /**
     * Reads a folder: lists its images, then decodes them all in parallel when their pixels fit
     * {@link ReadOptions#inMemoryMaxBytes}, else leaves them on disk ({@link ImageFileStore}).
     *
     * @param channels 1 (grey) or 3 (RGB)
     * @param size the side of the square images the dataset holds
     */
    public static ImageDataset read(String name, Path root, int channels, int size, ReadOptions options)
            throws IOException {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        }
        if (size <= 0 || size > MAX_SIDE) {
            throw new IllegalArgumentException("image size must be in [1, " + MAX_SIDE + "], got " + size);
        }
        if (!Files.isDirectory(root)) {
            throw new DatasetFormatException(root, "not a directory");
        }
        List<Path> classDirs;
        List<Path> loose;
        try (Stream<Path> s = Files.list(root)) {
            List<Path> all = s.sorted().toList();
            classDirs = all.stream().filter(Files::isDirectory).toList();
            loose = all.stream().filter(ImageFolderReader::isImage).toList();
        }
        List<String> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        List<String> classNames = new ArrayList<>();
        Path realRoot = root.toRealPath();
        for (Path dir : classDirs) {
            requireInside(realRoot, dir, root);
        }
        if (!classDirs.isEmpty()) {
            if (!loose.isEmpty()) {
                throw new DatasetFormatException(
                        root,
                        "has both class folders and loose images ("
                                + loose.get(0).getFileName() + "): put every image in a class folder, or none");
            }
            for (Path dir : classDirs) {
                int label = classNames.size();
                classNames.add(dir.getFileName().toString());
                try (Stream<Path> s = Files.list(dir)) {
                    for (Path p : s.filter(ImageFolderReader::isImage).sorted().toList()) {
                        requireInside(realRoot, p, root);
                        files.add(root.relativize(p).toString());
                        labels.add(label);
                    }
                }
            }
        } else {
            for (Path p : loose) {
                requireInside(realRoot, p, root);
                files.add(root.relativize(p).toString());
            }
        }
        if (files.isEmpty()) {
            throw new DatasetFormatException(root, "no .png, .jpg or .jpeg images found");
        }
        int[] lab = classNames.isEmpty()
                ? null
                : labels.stream().mapToInt(Integer::intValue).toArray();
        int bytes = channels * size * size;
        ImageFileStore onDisk = new ImageFileStore(root, files, channels, size, options.resolvedDecodeThreads());
        // A folder that does not decode at all should fail now, not at the first step.
        decodeInto(root.resolve(files.get(0)), channels, size, new byte[bytes], 0);
        if ((long) files.size() * bytes > options.resolvedInMemoryMaxBytes()) {
            return new ImageDataset(name, onDisk, lab, channels, size, size, classNames);
        }
        // Small enough: decode everything once, on all the decoding threads; a broken file is an error here.
        byte[] pixels = new byte[files.size() * bytes];
        int[] all = new int[files.size()];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        try {
            onDisk.read(all, 0, all.length, ByteBuffer.wrap(pixels));
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (!onDisk.brokenFiles().isEmpty()) {
            String first = onDisk.brokenFiles().stream().sorted().findFirst().orElseThrow();
            throw new DatasetFormatException(
                    root.resolve(first),
                    "cannot be decoded (" + onDisk.brokenFiles().size() + " such files)");
        }
        return new ImageDataset(name, pixels, lab, files.size(), channels, size, size, classNames);
    }

    /** The largest side an image folder is resized to. */
    public static final int MAX_SIDE = 1024;

    /** The most pixel bytes one in-memory dataset can hold: a Java array's limit. */
    static final long MAX_PIXEL_BYTES = Integer.MAX_VALUE - 8;

    /**
     * Refuses, before decoding anything, a dataset whose pixels would not fit in one in-memory dataset, with a
     * message that says what to change (rather than an arithmetic overflow once the array is allocated).
     */
    static void checkFitsInMemory(Path root, long images, int bytesPerImage, long limit) throws DatasetFormatException {
        long total = images * bytesPerImage;
        if (total > limit) {
            throw new DatasetFormatException(
                    root,
                    String.format(
                            Locale.ROOT,
                            "%d images of %d bytes each are %.2f GB of pixels; a dataset is held in memory, at most"
                                    + " %.2f GB: use at most %d images at this size, or a smaller image size",
                            images,
                            bytesPerImage,
                            total / 1e9,
                            limit / 1e9,
                            limit / bytesPerImage));
        }
    }

    /**
     * Decodes one image file into {@code channels x size x size} bytes at {@code offset}. The image's size is read
     * from its header first: one over {@link ImageCodec#DEFAULT_MAX_PIXELS} is refused before it is decoded.
     */
    public static void decodeInto(Path file, int channels, int size, byte[] out, int offset) throws IOException {
        toChw(decode(file), channels, size, out, offset);
    }

    /**
     * Decodes one image file at its own resolution. Its size is read from its header first: one over
     * {@link ImageCodec#DEFAULT_MAX_PIXELS} is refused before it is decoded.
     */
    public static BufferedImage decode(Path file) throws IOException {
        BufferedImage img;
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) {
                throw new DatasetFormatException(file, "not a decodable PNG or JPEG image");
            }
            ImageReader reader = readers.next();
            try {
                String other = ImageCodec.otherFormat(reader);
                if (other != null) {
                    throw new DatasetFormatException(file, "is a " + other + " image; only PNG and JPEG are read");
                }
                reader.setInput(in, true, true);
                long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
                if (pixels <= 0 || pixels > ImageCodec.DEFAULT_MAX_PIXELS) {
                    throw new DatasetFormatException(
                            file,
                            "is " + reader.getWidth(0) + "x" + reader.getHeight(0) + " pixels; the limit is "
                                    + ImageCodec.DEFAULT_MAX_PIXELS + " pixels per image");
                }
                img = reader.read(0);
            } finally {
                reader.dispose();
            }
        } catch (DatasetFormatException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new DatasetFormatException(file, "cannot decode image: " + e.getMessage(), e);
        }
        if (img == null) {
            throw new DatasetFormatException(file, "not a decodable PNG or JPEG image");
        }
        return img;
    }

    /** Resizes (bilinear) and converts a decoded image into CHW bytes. */
    public static void toChw(BufferedImage img, int channels, int size, byte[] out, int offset) {
        toChw(img, 0, 0, img.getHeight(), img.getWidth(), channels, size, out, offset);
    }

    /**
     * Crops a box of a decoded image, resizes it (bilinear) and converts it into CHW bytes.
     *
     * @param top the box's first row, @param left its first column, @param height its rows, @param width its columns
     */
    public static void toChw(
            BufferedImage img,
            int top,
            int left,
            int height,
            int width,
            int channels,
            int size,
            byte[] out,
            int offset) {
        BufferedImage rgb = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        if (top == 0 && left == 0 && height == img.getHeight() && width == img.getWidth()) {
            g.drawImage(img, 0, 0, size, size, null);
        } else {
            g.drawImage(img, 0, 0, size, size, left, top, left + width, top + height, null);
        }
        g.dispose();
        int plane = size * size;
        // The raster's own ints, as getRGB would give them one call at a time (a third of the decode time).
        int[] argb = ((DataBufferInt) rgb.getRaster().getDataBuffer()).getData();
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int p = argb[y * size + x];
                int r = (p >> 16) & 0xff;
                int gr = (p >> 8) & 0xff;
                int b = p & 0xff;
                int at = y * size + x;
                if (channels == 1) {
                    // ITU-R 601 luma, as PIL's convert("L") computes it.
                    out[offset + at] = (byte) Math.round((r * 299 + gr * 587 + b * 114) / 1000.0);
                } else {
                    out[offset + at] = (byte) r;
                    out[offset + plane + at] = (byte) gr;
                    out[offset + 2 * plane + at] = (byte) b;
                }
            }
        }
    }

    /**
     * Refuses a file or class folder that is a link leading out of the dataset's folder: a service confines what
     * clients may read to its data root, and a link inside it must not open the rest of the file system.
     */
    private static void requireInside(Path realRoot, Path entry, Path root) throws IOException {
        if (Files.isSymbolicLink(entry) && !entry.toRealPath().startsWith(realRoot)) {
            throw new DatasetFormatException(
                    root,
                    "'" + root.relativize(entry) + "' is a link that leads out of the dataset's folder; copy what it"
                            + " points to into the folder instead");
        }
    }

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(p) && (n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg"));
    }
}
