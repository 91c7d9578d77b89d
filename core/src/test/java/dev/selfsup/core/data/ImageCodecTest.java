package dev.selfsup.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.testing.TestImages;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Decoding request images: the size comes from the header, and a huge image is refused before it is decoded. */
class ImageCodecTest {
    @Test
    void aHugeImageIsRefusedFromItsHeaderAlone() throws IOException {
        byte[] bomb = TestImages.claimingPng(46000);
        assertTrue(bomb.length < 200, bomb.length + " bytes");
        long t0 = System.nanoTime();
        var e = assertThrows(IllegalArgumentException.class, () -> ImageCodec.decodeChw(bomb, 1, 28));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(
                e.getMessage().contains("46000x46000 pixels; the limit is 16777216 pixels per image"), e.getMessage());
        assertTrue(seconds < 1, "refused before decoding: " + seconds + " s");
    }

    @Test
    void imagesWithinTheLimitDecodeAndTheBudgetBoundsDecodesAtOnce() {
        byte[] png = ImageCodec.encodePng(new byte[40 * 40], 1, 40, 40);
        assertEquals(28 * 28, ImageCodec.decodeChw(png, 1, 28, 1600, new PixelBudget(1600)).length);
        assertThrows(
                IllegalArgumentException.class, () -> ImageCodec.decodeChw(png, 1, 28, 1599, PixelBudget.UNLIMITED));
        PixelBudget budget = new PixelBudget(2048, 50);
        try (PixelBudget.Lease held = budget.acquire(2048)) {
            assertThrows(PixelBudget.BusyException.class, () -> ImageCodec.decodeChw(png, 1, 28, 1600, budget));
        }
        assertEquals(28 * 28, ImageCodec.decodeChw(png, 1, 28, 1600, budget).length, "room again once released");
    }

    @Test
    void onlyPngAndJpegAreDecoded() throws IOException {
        java.awt.image.BufferedImage img =
                new java.awt.image.BufferedImage(8, 8, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (String format : new String[] {"bmp", "gif", "tiff", "wbmp"}) {
            java.awt.image.BufferedImage src = format.equals("wbmp")
                    ? new java.awt.image.BufferedImage(8, 8, java.awt.image.BufferedImage.TYPE_BYTE_BINARY)
                    : img;
            var out = new java.io.ByteArrayOutputStream();
            assertTrue(javax.imageio.ImageIO.write(src, format, out), format);
            byte[] bytes = out.toByteArray();
            var e = assertThrows(IllegalArgumentException.class, () -> ImageCodec.decodeChw(bytes, 3, 8), format);
            assertTrue(e.getMessage().startsWith("not a PNG or JPEG image"), format + ": " + e.getMessage());
        }
        var jpeg = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "jpeg", jpeg);
        assertEquals(3 * 8 * 8, ImageCodec.decodeChw(jpeg.toByteArray(), 3, 8).length);
    }
}
