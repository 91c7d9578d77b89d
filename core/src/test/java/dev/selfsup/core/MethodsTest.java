package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.PretrainConfig;
import org.junit.jupiter.api.Test;

/** Names, defaults and the combinations refused before a run starts. */
class MethodsTest {
    @Test
    void aliasesResolveAndUnknownNamesAreRefused() {
        assertEquals("moco-v2", Methods.canonical("MoCo"));
        assertEquals("relative-position", Methods.canonical("context"));
        assertEquals("moco-v2", PretrainConfig.defaults("moco").method());
        var e = assertThrows(IllegalArgumentException.class, () -> Methods.canonical("byol"));
        assertTrue(e.getMessage().startsWith("method: unknown method 'byol', known: [simclr"), e.getMessage());
    }

    @Test
    void theConfigRefusesUnknownBackbonesOptimizersAndDevices() {
        PretrainConfig d = PretrainConfig.defaults("simclr");
        assertThrows(IllegalArgumentException.class, () -> d.toBuilder().backbone("resnet50").build());
        assertThrows(IllegalArgumentException.class, () -> d.toBuilder().optimizer("lamb").build());
        assertThrows(IllegalArgumentException.class, () -> d.toBuilder().device("tpu").build());
        assertEquals("resnet18", d.toBuilder().backbone("ResNet18").build().backbone());
    }

    @Test
    void backboneDefaultsLiveInBackboneSpec() {
        PretrainConfig r = PretrainConfig.defaults("simclr").toBuilder().backboneAtDefaults("resnet18").build();
        assertEquals(BackboneSpec.defaultWidth("resnet18"), r.width());
        assertEquals(64, r.width());
        assertEquals(32, PretrainConfig.defaults("simclr").width());
        assertEquals(0.5f, PretrainConfig.defaults("rotation").cropScaleMin());
        assertEquals(0.5f, PretrainConfig.defaults("colorization").cropScaleMin());
    }

    @Test
    void colorizationWithAVitIsRefusedBeforeTheRun() {
        ImageDataset colour = PretrainerTest.tinyColour();
        PretrainConfig c = PretrainConfig.defaults("colorization").toBuilder().backboneAtDefaults("vit").build();
        BackboneSpec vit = new BackboneSpec("vit", c.width(), c.depth(), 3, colour.height(), new float[3],
                new float[] {1, 1, 1});
        var e = assertThrows(IllegalArgumentException.class, () -> Methods.checkData(c, vit, colour));
        assertTrue(e.getMessage().startsWith("backbone: colorization predicts colours per pixel"), e.getMessage());
    }
}
