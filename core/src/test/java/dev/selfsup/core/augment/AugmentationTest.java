package dev.selfsup.core.augment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Each augmentation alone: shapes, value ranges, exact cases and repeatability. */
class AugmentationTest {
    static NDManager m;

    @BeforeAll
    static void up() {
        m = NDManager.newBaseManager();
    }

    @AfterAll
    static void down() {
        m.close();
    }

    static NDArray batch(int b, int c, int h, int w) {
        m.getEngine().setRandomSeed(3);
        return m.randomUniform(0f, 1f, new Shape(b, c, h, w));
    }

    static void assertInUnitRange(NDArray x) {
        assertTrue(x.min().getFloat() >= 0f, "min < 0");
        assertTrue(x.max().getFloat() <= 1f, "max > 1");
    }

    @Test
    void fullImageCropReproducesInputExactly() {
        NDArray x = batch(3, 2, 10, 12);
        float[] all = {0, 0, 0};
        NDArray y = RandomResizedCrop.crop(x, all, all, new float[] {10, 10, 10}, new float[] {12, 12, 12}, 10, 12);
        assertArrayEquals(x.toFloatArray(), y.toFloatArray(), 1e-6f);
    }

    @Test
    void cropOfOnePixelIsThatPixel() {
        NDArray x = batch(1, 1, 6, 6);
        NDArray y = RandomResizedCrop.crop(x, new float[] {2}, new float[] {3}, new float[] {1}, new float[] {1}, 4, 4);
        float v = x.getFloat(0, 0, 2, 3);
        for (float f : y.toFloatArray()) {
            assertEquals(v, f, 1e-6);
        }
    }

    @Test
    void randomResizedCropKeepsShapeRangeAndBoxesInside() {
        RandomResizedCrop c = new RandomResizedCrop(16, 0.2, 1.0);
        Random r = new Random(1);
        for (int i = 0; i < 1000; i++) {
            RandomResizedCrop.Box b = c.sample(28, 20, r);
            assertTrue(
                    b.top() >= 0 && b.left() >= 0 && b.top() + b.height() <= 28 && b.left() + b.width() <= 20,
                    b.toString());
            double area = b.height() * b.width() / (28.0 * 20);
            assertTrue(area <= 1.0 + 1e-9);
        }
        NDArray y = c.apply(batch(4, 3, 28, 20), new Random(2));
        assertEquals(new Shape(4, 3, 16, 16), y.getShape());
        assertInUnitRange(y);
    }

    @Test
    void flipWithProbabilityOneMirrorsAndZeroKeeps() {
        NDArray x = batch(2, 1, 4, 5);
        assertArrayEquals(
                x.flip(3).toFloatArray(),
                new HorizontalFlip(1.0).apply(x, new Random(1)).toFloatArray());
        assertArrayEquals(
                x.toFloatArray(),
                new HorizontalFlip(0.0).apply(x, new Random(1)).toFloatArray());
    }

    @Test
    void zeroStrengthJitterIsIdentityAndJitterStaysInRange() {
        NDArray x = batch(4, 3, 8, 8);
        assertArrayEquals(
                x.toFloatArray(),
                new ColorJitter(0, 0, 0, 0, 1.0).apply(x, new Random(1)).toFloatArray(),
                1e-5f);
        NDArray y = new ColorJitter(0.8, 0.8, 0.8, 0.2, 1.0).apply(x, new Random(1));
        assertEquals(x.getShape(), y.getShape());
        assertInUnitRange(y);
        assertNotEquals(0f, y.sub(x).abs().sum().getFloat());
        NDArray grey = batch(4, 1, 8, 8);
        assertInUnitRange(new ColorJitter(0.4, 0.4, 0, 0, 1.0).apply(grey, new Random(1)));
    }

    @Test
    void brightnessScalesPixels() {
        NDArray x = m.full(new Shape(1, 1, 2, 2), 0.5f);
        float v = new ColorJitter(0.4, 0, 0, 0, 1.0).apply(x, new Random(9)).getFloat(0, 0, 0, 0);
        assertTrue(v >= 0.5f * 0.6f - 1e-6 && v <= 0.5f * 1.4f + 1e-6, "brightness factor outside [0.6, 1.4]: " + v);
    }

    @Test
    void grayscaleMakesChannelsEqual() {
        NDArray x = batch(3, 3, 5, 5);
        NDArray y = new RandomGrayscale(1.0).apply(x, new Random(1));
        assertArrayEquals(y.get(":, 0").toFloatArray(), y.get(":, 1").toFloatArray(), 1e-6f);
        assertArrayEquals(y.get(":, 1").toFloatArray(), y.get(":, 2").toFloatArray(), 1e-6f);
        float expected =
                0.299f * x.getFloat(0, 0, 0, 0) + 0.587f * x.getFloat(0, 1, 0, 0) + 0.114f * x.getFloat(0, 2, 0, 0);
        assertEquals(expected, y.getFloat(0, 0, 0, 0), 1e-5);
    }

    @Test
    void gaussianKernelIsNormalisedAndBlurKeepsConstantImages() {
        float[] k = GaussianBlur.kernel(5, 1.0);
        float sum = 0;
        for (float v : k) {
            sum += v;
        }
        assertEquals(1f, sum, 1e-6);
        assertEquals(k[0], k[4], 1e-7);
        assertArrayEquals(new float[] {0, 1, 0}, GaussianBlur.kernel(3, 0), 0f);
        // A constant image stays constant, borders included (normalised convolution).
        NDArray x = m.full(new Shape(2, 3, 9, 9), 0.7f);
        NDArray y = new GaussianBlur(5, 0.5, 2.0, 1.0).apply(x, new Random(1));
        assertEquals(0f, y.sub(0.7f).abs().max().getFloat(), 1e-5);
        NDArray z = batch(2, 1, 9, 9);
        assertArrayEquals(
                z.toFloatArray(),
                new GaussianBlur(3, 0.5, 2.0, 0.0).apply(z, new Random(1)).toFloatArray(),
                1e-6f);
    }

    @Test
    void sameSeedSameViewsOtherSeedOtherViews() {
        Augmentation a = AugmentationPipeline.contrastive(3, 32, 0.2, 0.5);
        NDArray x = batch(4, 3, 32, 32);
        float[] v1 = a.apply(x, new Random(5)).toFloatArray();
        float[] v2 = a.apply(x, new Random(5)).toFloatArray();
        float[] v3 = a.apply(x, new Random(6)).toFloatArray();
        assertArrayEquals(v1, v2);
        assertNotEquals(Arrays.hashCode(v1), Arrays.hashCode(v3));
        AugmentationPipeline p = AugmentationPipeline.contrastive(1, 28, 0.2, 0.5);
        List<Class<?>> kinds =
                p.steps().stream().<Class<?>>map(Object::getClass).toList();
        assertEquals(List.of(RandomResizedCrop.class, HorizontalFlip.class, ColorJitter.class), kinds);
    }
}
