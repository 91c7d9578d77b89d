package dev.selfsup.core.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * Reads a folder of PNG and JPEG images: with one sub-folder per class (labelled, classes sorted by name),
 * or with the images directly in it (unlabelled). Every image is resized to the requested size.
 */
public final class ImageFolderReader {
    private ImageFolderReader() {}

    /**
     * @param channels 1 (grey) or 3 (RGB)
     * @param size the side of the square images the dataset holds
     */
    public static ImageDataset read(String name, Path root, int channels, int size) throws IOException {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
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
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        List<String> classNames = new ArrayList<>();
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
                        files.add(p);
                        labels.add(label);
                    }
                }
            }
        } else {
            files.addAll(loose);
        }
        if (files.isEmpty()) {
            throw new DatasetFormatException(root, "no .png, .jpg or .jpeg images found");
        }
        int bytes = channels * size * size;
        checkFitsInMemory(root, files.size(), bytes, MAX_PIXEL_BYTES);
        byte[] pixels = new byte[files.size() * bytes];
        for (int i = 0; i < files.size(); i++) {
            decodeInto(files.get(i), channels, size, pixels, i * bytes);
        }
        int[] lab = classNames.isEmpty()
                ? null
                : labels.stream().mapToInt(Integer::intValue).toArray();
        return new ImageDataset(name, pixels, lab, files.size(), channels, size, size, classNames);
    }

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

    /** Decodes one image file into {@code channels x size x size} bytes at {@code offset}. */
    public static void decodeInto(Path file, int channels, int size, byte[] out, int offset) throws IOException {
        BufferedImage img;
        try {
            img = ImageIO.read(file.toFile());
        } catch (IOException | RuntimeException e) {
            throw new DatasetFormatException(file, "cannot decode image: " + e.getMessage(), e);
        }
        if (img == null) {
            throw new DatasetFormatException(file, "not a decodable PNG or JPEG image");
        }
        toChw(img, channels, size, out, offset);
    }

    /** Resizes (bilinear) and converts a decoded image into CHW bytes. */
    public static void toChw(BufferedImage img, int channels, int size, byte[] out, int offset) {
        BufferedImage rgb = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(img, 0, 0, size, size, null);
        g.dispose();
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int p = rgb.getRGB(x, y);
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

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(p) && (n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg"));
    }
}
