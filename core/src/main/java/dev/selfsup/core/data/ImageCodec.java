package dev.selfsup.core.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * PNG/JPEG bytes to planar pixels and back. Decoding goes through the same resize and channel conversion as
 * {@link ImageFolderReader}, so a served image is preprocessed exactly as a training image was.
 */
public final class ImageCodec {
    private ImageCodec() {}

    /** The default bound of one decoded image: 4096 x 4096 pixels. */
    public static final long DEFAULT_MAX_PIXELS = 4096L * 4096L;

    /** Pixels as bytes to the networks' input scale: {@code out[offset + i] = chw[i] / 255}. */
    public static void toUnitFloats(byte[] chw, float[] out, int offset) {
        for (int i = 0; i < chw.length; i++) {
            out[offset + i] = (chw[i] & 0xff) / 255f;
        }
    }

    /**
     * Decodes an encoded image into {@code channels x size x size} bytes (CHW), if it has at most
     * {@link #DEFAULT_MAX_PIXELS} pixels.
     *
     * @throws IllegalArgumentException if the bytes are not a PNG or JPEG image, or the image is too large
     */
    public static byte[] decodeChw(byte[] encoded, int channels, int size) {
        return decodeChw(encoded, channels, size, DEFAULT_MAX_PIXELS, PixelBudget.UNLIMITED);
    }

    /**
     * Decodes an encoded image into {@code channels x size x size} bytes (CHW). The size is read from the image's
     * header first: an image over {@code maxPixels} is refused before any pixel is decoded (a small file can claim
     * a huge image), and the decode takes its pixels from {@code budget} while it runs.
     *
     * @throws IllegalArgumentException if the bytes are not a PNG or JPEG image, or it has more than
     *     {@code maxPixels} pixels
     * @throws PixelBudget.BusyException if the budget had no room in time
     */
    public static byte[] decodeChw(byte[] encoded, int channels, int size, long maxPixels, PixelBudget budget) {
        BufferedImage img;
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(encoded))) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) {
                throw new IllegalArgumentException("not a PNG or JPEG image (" + encoded.length + " bytes)");
            }
            ImageReader reader = readers.next();
            try {
                String other = otherFormat(reader);
                if (other != null) {
                    throw new IllegalArgumentException(
                            "not a PNG or JPEG image (a " + other + " image; convert it to PNG or JPEG)");
                }
                reader.setInput(in, true, true);
                int w = reader.getWidth(0);
                int h = reader.getHeight(0);
                long pixels = (long) w * h;
                if (w <= 0 || h <= 0 || pixels > maxPixels) {
                    throw new IllegalArgumentException(
                            "the image is " + w + "x" + h + " pixels; the limit is " + maxPixels + " pixels per image");
                }
                try (PixelBudget.Lease lease = budget.acquire(pixels)) {
                    img = reader.read(0);
                }
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException || e instanceof PixelBudget.BusyException) {
                throw (RuntimeException) e;
            }
            throw new IllegalArgumentException("cannot decode image: " + e.getMessage(), e);
        }
        if (img == null) {
            throw new IllegalArgumentException("not a PNG or JPEG image (" + encoded.length + " bytes)");
        }
        byte[] out = new byte[channels * size * size];
        ImageFolderReader.toChw(img, channels, size, out, 0);
        return out;
    }

    /**
     * The reader's format if it is neither PNG nor JPEG, else null. Only the two documented formats are read:
     * ImageIO would also decode BMP, GIF, TIFF and WBMP, more decoders than a service needs to expose to whoever
     * sends it bytes.
     */
    static String otherFormat(ImageReader reader) throws IOException {
        String format = reader.getFormatName().toUpperCase(java.util.Locale.ROOT);
        return format.equals("PNG") || format.equals("JPEG") || format.equals("JPG") ? null : format;
    }

    /** Encodes CHW bytes (1 or 3 channels) as a PNG file. */
    public static byte[] encodePng(byte[] chw, int channels, int height, int width) {
        BufferedImage img = new BufferedImage(
                width, height, channels == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        int plane = height * width;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int at = y * width + x;
                if (channels == 1) {
                    img.getRaster().setSample(x, y, 0, chw[at] & 0xff);
                } else {
                    int r = chw[at] & 0xff;
                    int g = chw[plane + at] & 0xff;
                    int b = chw[2 * plane + at] & 0xff;
                    img.setRGB(x, y, (r << 16) | (g << 8) | b);
                }
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
