package dev.selfsup.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.color.Lab;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.eval.Features;
import dev.selfsup.core.method.Colorization;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import javax.imageio.ImageIO;

/** A picture of colorization on test images: the grayscale input, the prediction and the truth, in three rows. */
final class ColorizationPicture {
    private static final int SCALE = 3;

    private ColorizationPicture() {}

    static void write(Colorization method, NDManager parent, ImageDataset test, int count, Path file)
            throws IOException {
        int n = Math.min(count, test.size());
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = (int) ((long) i * test.size() / n); // spread over the classes of a sorted folder
        }
        int h = test.height();
        int w = test.width();
        BufferedImage out = new BufferedImage(n * w * SCALE, 3 * h * SCALE, BufferedImage.TYPE_INT_RGB);
        try (NDManager m = parent.newSubManager()) {
            NDArray rgb = Features.images(test, order, 0, n, m, m.getDevice());
            NDArray predicted = method.colorize(new ParameterStore(m, false), rgb);
            NDArray grey = Lab.lightness(rgb).repeat(1, 3);
            NDArray[] rows = {grey, predicted, rgb};
            for (int r = 0; r < 3; r++) {
                float[] px = rows[r].toFloatArray();
                for (int i = 0; i < n; i++) {
                    for (int y = 0; y < h * SCALE; y++) {
                        for (int x = 0; x < w * SCALE; x++) {
                            int at = (y / SCALE) * w + x / SCALE;
                            int base = i * 3 * h * w;
                            int red = channel(px[base + at]);
                            int green = channel(px[base + h * w + at]);
                            int blue = channel(px[base + 2 * h * w + at]);
                            out.setRGB(i * w * SCALE + x, r * h * SCALE + y, (red << 16) | (green << 8) | blue);
                        }
                    }
                }
            }
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        ImageIO.write(out, "png", tmp.toFile());
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static int channel(float v) {
        return Math.max(0, Math.min(255, Math.round(v * 255f)));
    }
}
