package dev.selfsup.core.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Reads a dataset folder in any format selfsup knows, guessing the format from the files when asked to.
 *
 * <ul>
 *   <li>IDX: {@code train-images-idx3-ubyte[.gz]} with {@code train-labels-idx1-ubyte[.gz]}, and {@code t10k-*} for
 *       the test split (the MNIST layout; labels optional).
 *   <li>CIFAR binary: {@code data_batch_*.bin} (train) and {@code test_batch.bin} (test) for CIFAR-10,
 *       {@code train.bin} and {@code test.bin} for CIFAR-100.
 *   <li>Image folder: the folder of the split's name if there is one, else the folder itself.
 * </ul>
 */
public final class DatasetLoader {
    /** The formats. */
    public enum Format {
        AUTO,
        IDX,
        CIFAR10,
        CIFAR100,
        IMAGE_FOLDER
    }

    private DatasetLoader() {}

    /**
     * @param split "train" or "test"
     * @param channels image folders: 1 or 3
     * @param size image folders: side in pixels
     */
    public static ImageDataset load(Path dir, Format format, String split, int channels, int size) throws IOException {
        return load(dir, format, split, channels, size, ReadOptions.DEFAULT);
    }

    /**
     * @param split "train" or "test"
     * @param channels image folders: 1 or 3
     * @param size image folders: side in pixels
     * @param options image folders: whether they are held in memory, and the decoding threads
     */
    public static ImageDataset load(Path dir, Format format, String split, int channels, int size, ReadOptions options)
            throws IOException {
        String s = split == null || split.isBlank() ? "train" : split.toLowerCase(Locale.ROOT);
        if (!"train".equals(s) && !"test".equals(s)) {
            throw new IllegalArgumentException("split must be train or test, got '" + split + "'");
        }
        if (!Files.isDirectory(dir)) {
            throw new DatasetFormatException(dir, "no such dataset folder");
        }
        Format f = format == Format.AUTO ? detect(dir) : format;
        String name = dir.getFileName() + "/" + s;
        return switch (f) {
            case IDX -> {
                String prefix = "train".equals(s) ? "train" : "t10k";
                Path images = first(dir, prefix + "-images-idx3-ubyte.gz", prefix + "-images-idx3-ubyte");
                Path labels = firstOrNull(dir, prefix + "-labels-idx1-ubyte.gz", prefix + "-labels-idx1-ubyte");
                yield IdxReader.read(name, images, labels, List.of());
            }
            case CIFAR10 ->
                CifarBinaryReader.read(name, cifarFiles(dir, s, false), CifarBinaryReader.Variant.CIFAR10, List.of());
            case CIFAR100 ->
                CifarBinaryReader.read(name, cifarFiles(dir, s, true), CifarBinaryReader.Variant.CIFAR100, List.of());
            case IMAGE_FOLDER -> {
                Path sub = dir.resolve(s);
                yield ImageFolderReader.read(name, Files.isDirectory(sub) ? sub : dir, channels, size, options);
            }
            case AUTO -> throw new IllegalStateException();
        };
    }

    /** Guesses the format of a folder from the names of its files. */
    public static Format detect(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString()).toList();
            if (names.stream().anyMatch(n -> n.contains("-images-idx3-ubyte"))) {
                return Format.IDX;
            }
            if (names.stream().anyMatch(n -> n.startsWith("data_batch_") && n.endsWith(".bin"))) {
                return Format.CIFAR10;
            }
            if (names.contains("train.bin") && names.contains("test.bin")) {
                return Format.CIFAR100;
            }
            return Format.IMAGE_FOLDER;
        }
    }

    private static List<Path> cifarFiles(Path dir, String split, boolean hundred) throws IOException {
        if (hundred) {
            return List.of(first(dir, split + ".bin"));
        }
        if ("test".equals(split)) {
            return List.of(first(dir, "test_batch.bin"));
        }
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().matches("data_batch_\\d+\\.bin"))
                    .sorted()
                    .forEach(files::add);
        }
        if (files.isEmpty()) {
            throw new DatasetFormatException(dir, "no data_batch_*.bin files");
        }
        return files;
    }

    private static Path first(Path dir, String... names) throws DatasetFormatException {
        Path p = firstOrNull(dir, names);
        if (p == null) {
            throw new DatasetFormatException(dir.resolve(names[0]), "not found");
        }
        return p;
    }

    private static Path firstOrNull(Path dir, String... names) {
        for (String n : names) {
            Path p = dir.resolve(n);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }
}
