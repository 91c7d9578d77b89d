package dev.selfsup.core.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.model.BackboneSpec;
import org.junit.jupiter.api.Test;

/**
 * DeepCluster's settings: the PCA dimension 0 picks 128 or the encoder's feature size, whichever is smaller, and a
 * set one stays; the number of clusterings, the classifier's size and the local crops are bounded.
 */
class DeepClusterSettingsTest {
    private static int used(String backbone, int width, int pcaDim) {
        BackboneSpec spec = new BackboneSpec(backbone, width, 1, 1, 28, new float[] {0.5f}, new float[] {0.25f});
        DeepCluster.Settings s = new DeepCluster.Settings(10, pcaDim, 0.2f, 0f, 1, 0, 0);
        SslMethod m = Methods.create("deepcluster", s, new MethodContext(spec, null, null, 1, 16, 10));
        return (int) m.derivedValues().get("pca_dim_used");
    }

    @Test
    void zeroMeansOneHundredTwentyEightOrTheFeatureSize() {
        assertEquals(
                0, ((DeepCluster.Settings) DeepCluster.DEFINITION.defaults()).pcaDim(), "the default is automatic");
        assertEquals(128, used("small-convnet", 32, 0), "128 features");
        assertEquals(128, used("small-convnet-grid", 32, 0), "1,152 features");
        assertEquals(32, used("small-convnet", 8, 0), "32 features");
        assertEquals(16, used("small-convnet-grid", 32, 16), "a set dimension is kept");
        var e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 1, 0.2f, 0f, 1, 0, 0));
        assertTrue(e.getMessage().startsWith("pca_dim: must be at least 2 (or 0: automatic)"), e.getMessage());
    }

    @Test
    void clusteringsAndTheClassifierAreBounded() {
        assertEquals(1, ((DeepCluster.Settings) DeepCluster.DEFINITION.defaults()).clusterings(), "one by default");
        assertEquals(0.5f, ((DeepCluster.Settings) DeepCluster.DEFINITION.defaults()).jitterStrength());
        new DeepCluster.Settings(8_192, 0, 0.2f, 0f, DeepCluster.MAX_CLUSTERINGS, 0, 0);
        var e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 0, 0.2f, 0f, 0, 0, 0));
        assertEquals("clusterings: must be 1 to 8, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 0, 0.2f, 0f, 9, 0, 0));
        assertEquals("clusterings: must be 1 to 8, got 9", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(40_000, 0, 0.2f, 0f, 2, 0, 0));
        assertEquals(
                "clusters: 40000 clusters x 2 clusterings is more than the 65536 classifier outputs allowed",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 0, 0.2f, -1f, 1, 0, 0));
        assertEquals("jitter_strength: must be >= 0, got -1.0", e.getMessage());
    }

    @Test
    void localCropsAreBounded() {
        assertEquals(0, ((DeepCluster.Settings) DeepCluster.DEFINITION.defaults()).localCrops(), "none by default");
        new DeepCluster.Settings(10, 0, 0.2f, 0.5f, 1, 16, 8);
        var e = assertThrows(
                IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 0, 0.2f, 0.5f, 1, 17, 0));
        assertEquals("local_crops: must be 0 to 16, got 17", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 0, 0.04f, 0.5f, 1, 2, 0));
        assertTrue(e.getMessage().startsWith("crop_scale_min: must be above 0.05 with local crops"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 0, 0.2f, 0.5f, 1, 2, 4));
        assertTrue(e.getMessage().startsWith("local_crop_size: must be 0"), e.getMessage());
    }
}
