package dev.selfsup.core.tokenizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.eval.Features;

/**
 * How good a tokenizer is on held-out images.
 *
 * @param mse mean squared error of the reconstruction, pixels in [0, 1]
 * @param psnr peak signal-to-noise ratio in dB, {@code 10 log10(1 / mse)}
 * @param usage fraction of the vocabulary that some held-out token uses (under 0.5: a collapsed tokenizer)
 * @param perplexity {@code exp(H)} of the token distribution: the number of equally used tokens it amounts to
 * @param images held-out images measured
 */
public record TokenizerQuality(double mse, double psnr, double usage, double perplexity, int images) {
    /** Tokenizes and decodes {@code data} in batches and measures it. */
    public static TokenizerQuality measure(VisualTokenizer t, ImageDataset data, int batchSize, NDManager manager) {
        int k = t.spec().vocabularySize();
        long[] counts = new long[k];
        double se = 0;
        long pixels = 0;
        int[] order = new int[data.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        for (int from = 0; from < data.size(); from += batchSize) {
            int n = Math.min(batchSize, data.size() - from);
            try (NDManager m = manager.newSubManager()) {
                NDArray x = Features.images(data, order, from, n, m, manager.getDevice());
                NDArray tokens = t.tokenize(x);
                NDArray back = t.decode(tokens);
                se += back.sub(x).square().sum().getFloat();
                pixels += x.size();
                for (long id : tokens.toType(DataType.INT64, false).toLongArray()) {
                    counts[(int) id]++;
                }
            }
        }
        return of(counts, se / Math.max(1, pixels), data.size());
    }

    /** From token counts and a mean squared error. */
    public static TokenizerQuality of(long[] counts, double mse, int images) {
        long total = 0;
        int used = 0;
        for (long c : counts) {
            total += c;
            used += c > 0 ? 1 : 0;
        }
        double h = 0;
        for (long c : counts) {
            if (c > 0) {
                double p = (double) c / total;
                h -= p * Math.log(p);
            }
        }
        return new TokenizerQuality(
                mse, 10 * Math.log10(1.0 / Math.max(mse, 1e-12)), (double) used / counts.length, Math.exp(h), images);
    }
}
