package dev.selfsup.core.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads CIFAR-10 and CIFAR-100 in their binary format: fixed-size records of label byte(s) and 3x32x32 pixels in
 * CHW order. CIFAR-10 records have one label byte (3,073 bytes); CIFAR-100 records have a coarse and a fine label
 * (3,074 bytes), of which the fine one is used.
 */
public final class CifarBinaryReader {
    /** Which of the two CIFAR binary layouts a file has. */
    public enum Variant {
        CIFAR10(1, 10),
        CIFAR100(2, 100);

        final int labelBytes;
        final int classes;

        Variant(int labelBytes, int classes) {
            this.labelBytes = labelBytes;
            this.classes = classes;
        }
    }

    private static final int IMAGE_BYTES = 3 * 32 * 32;

    private CifarBinaryReader() {}

    /** Reads and concatenates the given batch files (e.g. data_batch_1.bin ... data_batch_5.bin). */
    public static ImageDataset read(String name, List<Path> files, Variant variant, List<String> classNames)
            throws IOException {
        int record = variant.labelBytes + IMAGE_BYTES;
        long total = 0;
        List<byte[]> contents = new ArrayList<>();
        for (Path f : files) {
            if (!Files.isRegularFile(f)) {
                throw new DatasetFormatException(f, "no such file");
            }
            byte[] bytes = Files.readAllBytes(f);
            if (bytes.length == 0 || bytes.length % record != 0) {
                throw new DatasetFormatException(
                        f,
                        "size " + bytes.length + " is not a whole number of " + variant + " records of " + record
                                + " bytes (truncated, or the wrong variant)");
            }
            contents.add(bytes);
            total += bytes.length / record;
        }
        ImageFolderReader.checkFitsInMemory(files.get(0), total, IMAGE_BYTES, ImageFolderReader.MAX_PIXEL_BYTES);
        int n = Math.toIntExact(total);
        byte[] pixels = new byte[n * IMAGE_BYTES];
        int[] labels = new int[n];
        int i = 0;
        for (int fi = 0; fi < contents.size(); fi++) {
            byte[] bytes = contents.get(fi);
            for (int off = 0; off < bytes.length; off += record, i++) {
                int label = bytes[off + variant.labelBytes - 1] & 0xff;
                if (label >= variant.classes) {
                    throw new DatasetFormatException(
                            files.get(fi),
                            "record " + (off / record) + " has label " + label + ", " + variant + " has "
                                    + variant.classes + " classes");
                }
                labels[i] = label;
                System.arraycopy(bytes, off + variant.labelBytes, pixels, i * IMAGE_BYTES, IMAGE_BYTES);
            }
        }
        List<String> names = classNames;
        if (names.isEmpty()) {
            names = new ArrayList<>();
            for (int c = 0; c < variant.classes; c++) {
                names.add(Integer.toString(c));
            }
        } else if (names.size() != variant.classes) {
            throw new IllegalArgumentException(
                    variant + " has " + variant.classes + " classes, got " + names.size() + " names");
        }
        return new ImageDataset(name, pixels, labels, n, 3, 32, 32, names);
    }
}
