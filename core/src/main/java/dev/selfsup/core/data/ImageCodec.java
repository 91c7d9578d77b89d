package dev.selfsup.core.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;

/**
 * PNG/JPEG bytes to planar pixels and back. Decoding goes through the same resize and channel conversion as
 * {@link ImageFolderReader}, so a served image is preprocessed exactly as a training image was.
 */
public final class ImageCodec {
    private ImageCodec() {}

    /**
     * Decodes an encoded image into {@code channels x size x size} bytes (CHW).
     *
     * @throws IllegalArgumentException if the bytes are not a PNG or JPEG image
     */
    public static byte[] decodeChw(byte[] encoded, int channels, int size) {
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(encoded));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot decode image: " + e.getMessage(), e);
        }
        if (img == null) {
            throw new IllegalArgumentException("not a PNG or JPEG image (" + encoded.length + " bytes)");
        }
        byte[] out = new byte[channels * size * size];
        ImageFolderReader.toChw(img, channels, size, out, 0);
        return out;
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
