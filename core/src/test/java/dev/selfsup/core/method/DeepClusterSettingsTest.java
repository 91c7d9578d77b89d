package dev.selfsup.core.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.model.BackboneSpec;
import org.junit.jupiter.api.Test;

/** DeepCluster's PCA dimension: 0 picks 128 or the encoder's feature size, whichever is smaller; a set one stays. */
class DeepClusterSettingsTest {
    private static int used(String backbone, int width, int pcaDim) {
        BackboneSpec spec = new BackboneSpec(backbone, width, 1, 1, 28, new float[] {0.5f}, new float[] {0.25f});
        DeepCluster.Settings s = new DeepCluster.Settings(10, pcaDim, 0.2f);
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
        var e = assertThrows(IllegalArgumentException.class, () -> new DeepCluster.Settings(10, 1, 0.2f));
        assertTrue(e.getMessage().startsWith("pca_dim: must be at least 2 (or 0: automatic)"), e.getMessage());
    }
}
