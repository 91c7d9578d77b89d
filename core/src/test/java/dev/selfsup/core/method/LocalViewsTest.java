package dev.selfsup.core.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.model.BackboneSpec;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Multi-crop's small views: the loss over every pair of views against plain Java, and the settings' bounds. */
class LocalViewsTest {
    private static final BackboneSpec CONVNET =
            new BackboneSpec("small-convnet", 4, 1, 1, 12, new float[] {0.5f}, new float[] {0.25f});

    @Test
    void meanCosineWeighsEveryPairOfAPredictionAndAnotherViewsTargetTheSame() {
        int count = 3;
        int n = 5;
        int d = 4;
        Random r = new Random(3);
        float[] locals = randoms(r, count * n * d);
        float[] targets = randoms(r, 2 * n * d);
        float globalMean = 0.3f;
        // The pairs by hand: 2 global pairs with mean cosine 0.3, then local view l of image i against the targets
        // of image i's view 1 and view 2.
        double sum = 2 * globalMean;
        for (int l = 0; l < count; l++) {
            double pairs = 0;
            for (int i = 0; i < n; i++) {
                for (int v = 0; v < 2; v++) {
                    pairs += cosine(locals, (l * n + i) * d, targets, (v * n + i) * d, d);
                }
            }
            sum += pairs / n; // the mean of view l's pair with view 1 plus that with view 2
        }
        double expected = sum / (2 + 2 * count);
        try (NDManager m = NDManager.newBaseManager()) {
            LocalViews views = new LocalViews(CONVNET, count, 0, 0.3f, 0.5f);
            NDArray got = views.meanCosineOfAllPairs(
                    m.create(globalMean),
                    m.create(locals, new Shape(count * n, d)),
                    m.create(targets, new Shape(2 * n, d)));
            assertEquals(expected, got.getFloat(), 1e-6);
            // The small views' side: about half the image, at least 8 px.
            assertEquals(8, views.derivedValues().get("local_crop_side"));
            NDArray images = m.randomUniform(0, 1, new Shape(n, 1, 12, 12));
            NDArray[] drawn = views.draw(new StepContext(null, new Random(1), 0, new int[n]), images);
            assertEquals(count, drawn.length);
            assertEquals(new Shape(n, 1, 8, 8), drawn[0].getShape());
        }
    }

    @Test
    void boundsAreCheckedWithTheSettingsNameInTheMessage() {
        var e = assertThrows(IllegalArgumentException.class, () -> LocalViews.checkSettings(17, 0, 0.2f));
        assertTrue(e.getMessage().startsWith("local_crops:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LocalViews.checkSettings(2, 4, 0.2f));
        assertTrue(e.getMessage().startsWith("local_crop_size:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LocalViews.checkSettings(2, 0, 0.05f));
        assertTrue(e.getMessage().startsWith("crop_scale_min:"), e.getMessage());
        LocalViews.checkSettings(0, 0, 0.05f); // no local views: any crop scale
        BackboneSpec vit = new BackboneSpec("vit", 32, 1, 1, 12, new float[] {0.5f}, new float[] {0.25f});
        e = assertThrows(IllegalArgumentException.class, () -> LocalViews.checkBackbone(2, 0, vit));
        assertTrue(e.getMessage().contains("ViT"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LocalViews.checkBackbone(2, 16, CONVNET));
        assertTrue(e.getMessage().contains("image size 12"), e.getMessage());
    }

    private static float[] randoms(Random r, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    private static double cosine(float[] a, int ai, float[] b, int bi, int d) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int k = 0; k < d; k++) {
            dot += a[ai + k] * b[bi + k];
            na += a[ai + k] * a[ai + k];
            nb += b[bi + k] * b[bi + k];
        }
        return dot / Math.sqrt(na * nb);
    }
}
