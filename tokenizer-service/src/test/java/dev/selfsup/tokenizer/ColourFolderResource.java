package dev.selfsup.tokenizer;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * A data root for the tokenizer tests: an image folder "shapes" of 16x16 RGB PNGs (train/ 96, test/ 32, two
 * classes: a coloured square or a coloured bar on a dark ground), and nothing else. Read from disk batch by batch
 * (an in-memory limit of 1 KB), as a dataset too large for memory is.
 */
public class ColourFolderResource implements QuarkusTestResourceLifecycleManager {
    @Override
    public Map<String, String> start() {
        try {
            Path root = Files.createTempDirectory("selfsup-tokenizer-data");
            write(root.resolve("shapes/train"), 96, 1);
            write(root.resolve("shapes/test"), 32, 2);
            // 1 KB in memory: the folders are read from disk, as a large dataset would be.
            return Map.of(
                    "selfsup.data-root", root.toString(),
                    "selfsup.device", "cpu",
                    "selfsup.data.in-memory-max", "1K");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void write(Path split, int n, long seed) throws IOException {
        Random r = new Random(seed);
        for (int i = 0; i < n; i++) {
            String kind = i % 2 == 0 ? "square" : "bar";
            Path dir = Files.createDirectories(split.resolve(kind));
            BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
            int colour = (r.nextInt(200) + 55) << (8 * r.nextInt(3));
            int x0 = r.nextInt(8);
            int y0 = r.nextInt(8);
            for (int y = 0; y < 16; y++) {
                for (int x = 0; x < 16; x++) {
                    boolean on = kind.equals("square")
                            ? x >= x0 && x < x0 + 8 && y >= y0 && y < y0 + 8
                            : y >= y0 && y < y0 + 4;
                    img.setRGB(x, y, on ? colour : 0x101010 + r.nextInt(8));
                }
            }
            ImageIO.write(img, "png", dir.resolve(kind + "-" + i + ".png").toFile());
        }
    }

    @Override
    public void stop() {}
}
