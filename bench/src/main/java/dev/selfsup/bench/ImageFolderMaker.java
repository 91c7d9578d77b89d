package dev.selfsup.bench;

import dev.selfsup.core.engine.EngineThreads;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Writes a synthetic image folder for data-loading benchmarks: {@code DIR/train/class-K/NNNNNNN.jpg}, photo-sized
 * JPEGs (a gradient, a few shapes whose kind depends on the class, sensor-like noise), each a pure function of
 * (seed, index), so two folders of different sizes share their first images. Files already there are kept.
 */
@Command(
        name = "make-image-folder",
        mixinStandardHelpOptions = true,
        description = "Write a synthetic folder of JPEG images for benchmarks.")
public final class ImageFolderMaker implements Callable<Integer> {
    @Parameters(index = "0", description = "the folder to write (train/ is made in it)")
    Path dir;

    @Option(names = "--count", defaultValue = "20000", description = "images (default ${DEFAULT-VALUE})")
    int count;

    @Option(names = "--min-size", defaultValue = "224", description = "smallest side (default ${DEFAULT-VALUE})")
    int minSize;

    @Option(names = "--max-size", defaultValue = "256", description = "largest side (default ${DEFAULT-VALUE})")
    int maxSize;

    @Option(names = "--classes", defaultValue = "10", description = "class folders (default ${DEFAULT-VALUE})")
    int classes;

    @Option(names = "--quality", defaultValue = "0.9", description = "JPEG quality (default ${DEFAULT-VALUE})")
    float quality;

    @Option(names = "--threads", defaultValue = "0", description = "writer threads (default: one per processor)")
    int threads;

    @Option(names = "--seed", defaultValue = "1", description = "seed (default ${DEFAULT-VALUE})")
    long seed;

    public static void main(String[] args) {
        System.exit(new CommandLine(new ImageFolderMaker()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Path train = dir.resolve("train");
        for (int k = 0; k < classes; k++) {
            Files.createDirectories(train.resolve(className(k)));
        }
        int n = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ExecutorService pool = Executors.newFixedThreadPool(n, EngineThreads.factory("make-image-folder"));
        long t0 = System.nanoTime();
        List<Future<Long>> parts = new ArrayList<>();
        for (int t = 0; t < n; t++) {
            int first = t;
            parts.add(pool.submit(() -> {
                long bytes = 0;
                for (int i = first; i < count; i += n) {
                    bytes += write(train, i);
                }
                return bytes;
            }));
        }
        long bytes = 0;
        for (Future<Long> f : parts) {
            bytes += f.get();
        }
        pool.shutdown();
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf(
                "%s: %d images, %d to %d px, %.0f MB written now, in %.0f s%n",
                train, count, minSize, maxSize, bytes / 1e6, s);
        return 0;
    }

    private String className(int k) {
        return String.format("class-%02d", k);
    }

    /** Writes image {@code i} unless it exists; returns the bytes written. */
    private long write(Path train, int i) {
        int label = i % classes;
        Path file = train.resolve(className(label)).resolve(String.format("%07d.jpg", i));
        if (Files.exists(file)) {
            return 0;
        }
        SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + i);
        int w = minSize + rng.nextInt(maxSize - minSize + 1);
        int h = minSize + rng.nextInt(maxSize - minSize + 1);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setPaint(new GradientPaint(0, 0, color(rng), w, h, color(rng)));
        g.fillRect(0, 0, w, h);
        for (int s = 0; s < 3 + rng.nextInt(4); s++) {
            g.setColor(color(rng));
            int x = rng.nextInt(w);
            int y = rng.nextInt(h);
            int sw = w / 8 + rng.nextInt(w / 3);
            int sh = h / 8 + rng.nextInt(h / 3);
            switch ((label + s) % 3) {
                case 0 -> g.fillOval(x - sw / 2, y - sh / 2, sw, sh);
                case 1 -> g.fillRect(x - sw / 2, y - sh / 2, sw, sh);
                default ->
                    g.fillPolygon(
                            new int[] {x, x + sw / 2, x - sw / 2}, new int[] {y - sh / 2, y + sh / 2, y + sh / 2}, 3);
            }
        }
        g.dispose();
        // Sensor-like noise: photos are not flat colour, and flat colour would make decoding look faster than it is.
        byte[] px = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
        for (int p = 0; p < px.length; p++) {
            int v = (px[p] & 0xff) + rng.nextInt(17) - 8;
            px[p] = (byte) Math.max(0, Math.min(255, v));
        }
        try {
            Path tmp = file.resolveSibling(file.getFileName() + ".part");
            ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
            try (ImageOutputStream out = ImageIO.createImageOutputStream(tmp.toFile())) {
                ImageWriteParam p = writer.getDefaultWriteParam();
                p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                p.setCompressionQuality(quality);
                writer.setOutput(out);
                writer.write(null, new IIOImage(img, null, null), p);
            } finally {
                writer.dispose();
            }
            Files.move(tmp, file);
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Color color(SplittableRandom rng) {
        return new Color(rng.nextInt(1 << 24));
    }
}
