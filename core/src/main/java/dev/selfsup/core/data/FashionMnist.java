package dev.selfsup.core.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images of 28x28 grey clothes, 10 classes.
 * On Debian it is the package {@code dataset-fashion-mnist}, installed under {@link #DEFAULT_DIR}.
 */
public final class FashionMnist {
    /** Where Debian's {@code dataset-fashion-mnist} puts the IDX files. */
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");

    /** The class names in label order. */
    public static final List<String> CLASSES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    private FashionMnist() {}

    /** The 60,000 training images. */
    public static ImageDataset train(Path dir) throws IOException {
        return load(dir, "train");
    }

    /** The 10,000 test images. */
    public static ImageDataset test(Path dir) throws IOException {
        return load(dir, "t10k");
    }

    private static ImageDataset load(Path dir, String prefix) throws IOException {
        return IdxReader.read(
                "fashion-mnist/" + ("t10k".equals(prefix) ? "test" : "train"),
                find(dir, prefix + "-images-idx3-ubyte"),
                find(dir, prefix + "-labels-idx1-ubyte"),
                CLASSES);
    }

    private static Path find(Path dir, String base) throws DatasetFormatException {
        for (String name : new String[] {base + ".gz", base}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new DatasetFormatException(
                dir.resolve(base + ".gz"),
                "Fashion-MNIST file not found (install it with: apt-get install -y dataset-fashion-mnist)");
    }
}
