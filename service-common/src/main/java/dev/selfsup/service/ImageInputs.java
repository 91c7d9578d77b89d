package dev.selfsup.service;

import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.data.PixelBudget;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.PixelType;
import dev.selfsup.proto.v1.RawImage;
import io.grpc.Status;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;

/**
 * Turns request images into a model's input: CHW floats in [0, 1] at the model's size and channel count.
 * Encoded images are decoded, converted and resized as the trainer reads image folders; raw pixels must already
 * match. Anything else is INVALID_ARGUMENT naming the image and what was wrong.
 */
public final class ImageInputs {
    /** The bounds of decoding, as configured ({@link ImageLimits}); the defaults until then. */
    private static volatile long maxImagePixels = ImageCodec.DEFAULT_MAX_PIXELS;

    private static volatile PixelBudget budget = new PixelBudget(4 * ImageCodec.DEFAULT_MAX_PIXELS);

    /** The default of {@code selfsup.max-request-input-bytes}: the model input one request may make. */
    public static final long DEFAULT_MAX_REQUEST_INPUT_BYTES = 64L << 20;

    private static volatile long maxRequestInputBytes = DEFAULT_MAX_REQUEST_INPUT_BYTES;

    private ImageInputs() {}

    /**
     * Sets the bounds of decoding for this process.
     *
     * @param maxPixelsPerImage the largest image decoded (width x height)
     * @param maxPixelsDecoding the most pixels decoded at once by all calls together
     * @param maxInputBytes the most bytes of model input (float pixels) one request may make
     */
    static void configure(long maxPixelsPerImage, long maxPixelsDecoding, long maxInputBytes) {
        maxImagePixels = maxPixelsPerImage;
        maxRequestInputBytes = maxInputBytes;
        budget = new PixelBudget(Math.max(maxPixelsPerImage, maxPixelsDecoding));
    }

    /** All images of a request, concatenated: {@code images.size() * C * H * W} values. */
    public static float[] toPixels(List<Image> images, int channels, int size, int maxImages, String field) {
        if (images.isEmpty()) {
            throw invalid(field + " is empty: send at least one image");
        }
        if (images.size() > maxImages) {
            throw invalid(field + " has " + images.size() + " images; the limit per request is " + maxImages
                    + " (split the batch, or use EmbedStream)");
        }
        int per = channels * size * size;
        // What a request costs is the model's input, not the message: 256 tiny PNGs for a 224 px RGB model are
        // 154 MB of floats. Refused before anything is allocated.
        long bytes = (long) images.size() * per * Float.BYTES;
        if (bytes > maxRequestInputBytes) {
            long fit = Math.max(1, maxRequestInputBytes / ((long) per * Float.BYTES));
            throw Status.RESOURCE_EXHAUSTED
                    .withDescription(field + " has " + images.size() + " images, which at this model's input of "
                            + size + "x" + size + "x" + channels + " are " + (bytes >> 20) + " MiB of pixels; the limit"
                            + " per request is " + (maxRequestInputBytes >> 20)
                            + " MiB (selfsup.max-request-input-bytes)"
                            + ": send at most " + fit + " images per request, or use the streaming call")
                    .asRuntimeException();
        }
        float[] out = new float[images.size() * per];
        for (int i = 0; i < images.size(); i++) {
            fill(images.get(i), channels, size, out, i * per, field + "[" + i + "]");
        }
        return out;
    }

    private static void fill(Image image, int c, int s, float[] out, int offset, String where) {
        switch (image.getDataCase()) {
            case ENCODED -> {
                byte[] chw;
                try {
                    chw = ImageCodec.decodeChw(image.getEncoded().toByteArray(), c, s, maxImagePixels, budget);
                } catch (IllegalArgumentException e) {
                    String limit = e.getMessage().contains("pixels per image") ? " (selfsup.max-image-pixels)" : "";
                    throw invalid(where + ": " + e.getMessage() + limit);
                } catch (PixelBudget.BusyException e) {
                    throw Status.RESOURCE_EXHAUSTED
                            .withDescription(where + ": " + e.getMessage() + " (selfsup.max-decoding-pixels)")
                            .asRuntimeException();
                }
                ImageCodec.toUnitFloats(chw, out, offset);
            }
            case RAW -> fillRaw(image.getRaw(), c, s, out, offset, where);
            default -> throw invalid(where + " has neither encoded bytes nor raw pixels");
        }
    }

    private static void fillRaw(RawImage raw, int c, int s, float[] out, int offset, String where) {
        if (raw.getChannels() != c || raw.getHeight() != s || raw.getWidth() != s) {
            throw invalid(where + " is " + raw.getHeight() + "x" + raw.getWidth() + "x" + raw.getChannels()
                    + " (HxWxC) but the model takes " + s + "x" + s + "x" + c
                    + "; send it resized, or send the encoded PNG/JPEG and the service resizes it");
        }
        int plane = s * s;
        int n = plane * c;
        boolean floats = raw.getType() == PixelType.PIXEL_TYPE_FLOAT32;
        if (raw.getType() == PixelType.UNRECOGNIZED) {
            throw invalid(where + ": unknown pixel type");
        }
        int expected = n * (floats ? Float.BYTES : 1);
        if (raw.getData().size() != expected) {
            throw invalid(where + " has " + raw.getData().size() + " bytes of data; " + s + "x" + s + "x" + c + " "
                    + (floats ? "float32" : "uint8") + " pixels are " + expected + " bytes");
        }
        // Channels last in the request, channels first for the network.
        if (floats) {
            // slice(): a ByteString cut from a larger one (a tensor of many images) starts at a position, and the
            // absolute reads below count from the buffer's start.
            FloatBuffer fb = raw.getData()
                    .asReadOnlyByteBuffer()
                    .slice()
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .asFloatBuffer();
            for (int p = 0; p < plane; p++) {
                for (int ch = 0; ch < c; ch++) {
                    float v = fb.get(p * c + ch);
                    if (!(v >= 0f && v <= 1f)) {
                        throw invalid(where + ": float32 pixels must be in [0, 1], found " + v);
                    }
                    out[offset + ch * plane + p] = v;
                }
            }
        } else {
            ByteBuffer bb = raw.getData().asReadOnlyByteBuffer().slice();
            for (int p = 0; p < plane; p++) {
                for (int ch = 0; ch < c; ch++) {
                    out[offset + ch * plane + p] = (bb.get(p * c + ch) & 0xff) / 255f;
                }
            }
        }
    }

    private static RuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
