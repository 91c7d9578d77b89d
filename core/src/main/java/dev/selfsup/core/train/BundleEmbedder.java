package dev.selfsup.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.data.PixelBudget;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.model.BackboneSpec;
import java.util.Arrays;

/**
 * The one path from images to embeddings of a loaded encoder bundle: an encoded PNG or JPEG decoded and resized to
 * the model's input (CHW floats in [0, 1]), then the encoder in inference mode in batches of at most
 * {@code maxBatch} on the manager's device. The encoder-service's batcher and the bulk jobs (the Spark module) both
 * call it, so both give the same vectors for the same image. Thread-safe: inference only reads the parameters.
 */
public final class BundleEmbedder {
    private final EncoderBundle.Loaded loaded;
    private final NDManager manager;
    private final int maxBatch;

    /** @param manager owns the bundle's parameters and every batch's arrays (as sub-managers) */
    public BundleEmbedder(EncoderBundle.Loaded loaded, NDManager manager, int maxBatch) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be positive, got " + maxBatch);
        }
        this.loaded = loaded;
        this.manager = manager;
        this.maxBatch = maxBatch;
    }

    /** The bundle's header: backbone, feature size, provenance. */
    public EncoderBundle.Header header() {
        return loaded.header();
    }

    /** Values per image: channels x size x size. */
    public int imageFloats() {
        BackboneSpec s = loaded.header().backbone();
        return s.channels() * s.imageSize() * s.imageSize();
    }

    /** The embedding's size. */
    public int featureDim() {
        return loaded.header().featureDim();
    }

    /**
     * Decodes one encoded image into the model's input at {@code out[offset ...]}.
     *
     * @throws IllegalArgumentException if the bytes are not a PNG or JPEG image, or it has more than
     *     {@code maxPixels} pixels
     * @throws PixelBudget.BusyException if the budget had no room in time
     */
    public void decodeInto(byte[] encoded, long maxPixels, PixelBudget budget, float[] out, int offset) {
        BackboneSpec s = loaded.header().backbone();
        ImageCodec.toUnitFloats(
                ImageCodec.decodeChw(encoded, s.channels(), s.imageSize(), maxPixels, budget), out, offset);
    }

    /** Embeddings of {@code n} images given as CHW floats in [0, 1], image after image: {@code n x featureDim}. */
    public float[] embed(float[] pixels, int n) {
        GradMode.disableOnThisThread(); // per thread, and one JNI call: cheaper than remembering which threads
        int per = imageFloats();
        int dim = featureDim();
        BackboneSpec s = loaded.header().backbone();
        float[] out = new float[n * dim];
        for (int from = 0; from < n; from += maxBatch) {
            int m = Math.min(maxBatch, n - from);
            try (NDManager batch = manager.newSubManager()) {
                NDArray x = batch.create(
                        Arrays.copyOfRange(pixels, from * per, (from + m) * per),
                        new Shape(m, s.channels(), s.imageSize(), s.imageSize()));
                if (!x.getDevice().equals(manager.getDevice())) {
                    x = x.toDevice(manager.getDevice(), false);
                }
                float[] part = EncoderBundle.embed(loaded.encoder(), x).toFloatArray();
                System.arraycopy(part, 0, out, from * dim, part.length);
            }
        }
        return out;
    }
}
