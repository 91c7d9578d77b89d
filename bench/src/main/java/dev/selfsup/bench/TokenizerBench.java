package dev.selfsup.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.FashionMnist;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.eval.Features;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.tokenizer.TokenizerFile;
import dev.selfsup.core.tokenizer.TokenizerQuality;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.core.tokenizer.TokenizerTrainer;
import dev.selfsup.core.tokenizer.VisualTokenizer;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Trains a visual tokenizer (VQ, or k-means over patches), measures it on held-out images (PSNR, codebook usage,
 * perplexity), optionally saves it and a picture of originals above their reconstructions, and prints one JSON
 * line.
 */
@Command(
        name = "tokenizer-bench",
        mixinStandardHelpOptions = true,
        description = "Train a visual tokenizer, measure it on the test split, print one JSON line.")
public final class TokenizerBench implements Callable<Integer> {
    @Option(names = "--kind", defaultValue = "vq", description = "vq or kmeans-patches (default: ${DEFAULT-VALUE})")
    String kind;

    @Option(names = "--vocabulary", defaultValue = "512")
    int vocabulary;

    @Option(names = "--patch", defaultValue = "4")
    int patch;

    @Option(names = "--steps", defaultValue = "2000")
    long steps;

    @Option(names = "--batch-size", defaultValue = "128")
    int batchSize;

    @Option(names = "--lr", defaultValue = "0.002")
    float lr;

    @Option(names = "--code-dim", defaultValue = "32")
    int codeDim;

    @Option(names = "--hidden", defaultValue = "128")
    int hidden;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--device", defaultValue = "auto")
    String device;

    @Option(names = "--dataset", description = "a dataset folder instead of Fashion-MNIST")
    Path dataset;

    @Option(names = "--data-dir", defaultValue = "/usr/share/datasets/fashion-mnist")
    Path dataDir;

    @Option(names = "--save", description = "write the tokenizer here (a .tok file)")
    Path save;

    @Option(names = "--picture", description = "write a PNG of 12 test images above their reconstructions")
    Path picture;

    public static void main(String[] args) {
        System.exit(new CommandLine(new TokenizerBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        ImageDataset train = dataset == null
                ? FashionMnist.train(dataDir)
                : DatasetLoader.load(dataset, DatasetLoader.Format.AUTO, "train", 3, 32);
        ImageDataset test = dataset == null
                ? FashionMnist.test(dataDir)
                : DatasetLoader.load(dataset, DatasetLoader.Format.AUTO, "test", 3, 32);
        TokenizerSpec spec =
                new TokenizerSpec(kind, vocabulary, patch, train.height(), train.channels(), codeDim, hidden);
        TokenizerTrainer.Config c =
                new TokenizerTrainer.Config(steps, batchSize, lr, 0.25f, 0.99f, 1f, seed, device, 100);
        Map<String, Object> out = new LinkedHashMap<>();
        try (NDManager m = NDManager.newBaseManager(Devices.choose(device))) {
            long t0 = System.nanoTime();
            VisualTokenizer t = TokenizerTrainer.train(
                    spec,
                    c,
                    train.withoutLabels(),
                    m,
                    p -> System.err.printf(
                            "step %d/%d loss %.5f mse %.5f usage %.3f perplexity %.1f reseeded %d %.0f img/s%n",
                            p.step(),
                            p.totalSteps(),
                            p.loss(),
                            p.mse(),
                            p.usage(),
                            p.perplexity(),
                            p.reseeded(),
                            p.imagesPerSecond()),
                    () -> false);
            double seconds = (System.nanoTime() - t0) / 1e9;
            long e0 = System.nanoTime();
            TokenizerQuality q = TokenizerQuality.measure(t, test, 500, m);
            double evalSeconds = (System.nanoTime() - e0) / 1e9;
            out.put("kind", kind);
            out.put("vocabulary", vocabulary);
            out.put("patch", patch);
            out.put("grid", spec.gridSize());
            out.put("steps", "vq".equals(kind) ? steps : 0);
            out.put("train_seconds", Math.round(seconds * 10) / 10.0);
            out.put("test_images", q.images());
            out.put("test_mse", q.mse());
            out.put("test_psnr_db", Math.round(q.psnr() * 100) / 100.0);
            out.put("codebook_usage", Math.round(q.usage() * 1000) / 1000.0);
            out.put("perplexity", Math.round(q.perplexity() * 10) / 10.0);
            out.put("tokenize_decode_images_per_second", Math.round(test.size() / evalSeconds));
            out.put("dataset", train.name());
            if (save != null) {
                TokenizerFile.write(
                        save,
                        t,
                        new TokenizerFile.Header(
                                "tokenizer",
                                1,
                                save.getFileName().toString().replaceAll("\\.tok$", ""),
                                spec,
                                q,
                                train.name(),
                                train.fingerprint(),
                                steps,
                                seed,
                                Instant.now()));
                out.put("saved", save.toString());
            }
            if (picture != null) {
                writePicture(t, test, m, picture);
                out.put("picture", picture.toString());
            }
        }
        System.out.println(Json.write(out));
        return 0;
    }

    /** Twelve test images (top row) above their reconstructions from tokens (bottom row), scaled 4x. */
    private static void writePicture(VisualTokenizer t, ImageDataset test, NDManager parent, Path file)
            throws Exception {
        int n = 12;
        int s = test.height();
        int scale = 4;
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i * 7;
        }
        BufferedImage img = new BufferedImage(n * s * scale, 2 * s * scale, BufferedImage.TYPE_INT_RGB);
        try (NDManager m = parent.newSubManager()) {
            NDArray x = Features.images(test, order, 0, n, m, parent.getDevice());
            float[][] rows = {x.toFloatArray(), t.decode(t.tokenize(x)).toFloatArray()};
            int c = test.channels();
            for (int r = 0; r < 2; r++) {
                for (int i = 0; i < n; i++) {
                    for (int y = 0; y < s * scale; y++) {
                        for (int xx = 0; xx < s * scale; xx++) {
                            int at = (y / scale) * s + xx / scale;
                            int[] rgb = new int[3];
                            for (int ch = 0; ch < 3; ch++) {
                                float v = rows[r][(i * c + Math.min(ch, c - 1)) * s * s + at];
                                rgb[ch] = Math.max(0, Math.min(255, Math.round(v * 255)));
                            }
                            img.setRGB(i * s * scale + xx, r * s * scale + y, (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]);
                        }
                    }
                }
            }
        }
        ImageIO.write(img, "png", file.toFile());
    }
}
