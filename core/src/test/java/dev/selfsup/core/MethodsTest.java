package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.PretrainConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Names, defaults and the combinations refused before a run starts. */
class MethodsTest {
    @Test
    void aliasesResolveAndUnknownNamesAreRefused() {
        assertEquals("moco-v2", Methods.canonical("MoCo"));
        assertEquals("relative-position", Methods.canonical("context"));
        assertEquals("moco-v2", PretrainConfig.defaults("moco").method());
        var e = assertThrows(IllegalArgumentException.class, () -> Methods.canonical("swav"));
        assertTrue(e.getMessage().startsWith("method: unknown method 'swav', known: [simclr"), e.getMessage());
    }

    @Test
    void theConfigRefusesUnknownBackbonesOptimizersAndDevices() {
        PretrainConfig d = PretrainConfig.defaults("simclr");
        assertThrows(
                IllegalArgumentException.class,
                () -> d.toBuilder().backbone("resnet152").build());
        assertThrows(
                IllegalArgumentException.class,
                () -> d.toBuilder().optimizer("lamb").build());
        assertThrows(
                IllegalArgumentException.class,
                () -> d.toBuilder().device("tpu").build());
        assertEquals("resnet18", d.toBuilder().backbone("ResNet18").build().backbone());
        assertEquals("resnet50", d.toBuilder().backbone("ResNet50").build().backbone());
    }

    @Test
    void backboneDefaultsLiveInBackboneSpec() {
        PretrainConfig r = PretrainConfig.defaults("simclr").toBuilder()
                .backboneAtDefaults("resnet18")
                .build();
        assertEquals(BackboneSpec.defaultWidth("resnet18"), r.width());
        assertEquals(64, r.width());
        assertEquals(32, PretrainConfig.defaults("simclr").width());
        assertEquals(0.5f, PretrainConfig.defaults("rotation").methodSettings().get("crop_scale_min"));
        assertEquals(
                0.5f, PretrainConfig.defaults("colorization").methodSettings().get("crop_scale_min"));
    }

    @Test
    void colorizationWithAVitIsRefusedBeforeTheRun() {
        ImageDataset colour = PretrainerTest.tinyColour();
        PretrainConfig c = PretrainConfig.defaults("colorization").toBuilder()
                .backboneAtDefaults("vit")
                .build();
        BackboneSpec vit =
                new BackboneSpec("vit", c.width(), c.depth(), 3, colour.height(), new float[3], new float[] {1, 1, 1});
        var e = assertThrows(
                IllegalArgumentException.class, () -> Methods.checkData(c.method(), c.settings(), vit, colour));
        assertTrue(e.getMessage().startsWith("backbone: colorization predicts colours per pixel"), e.getMessage());
    }

    @Test
    void eachMethodOwnsItsSettingsAndRefusesOthers() {
        PretrainConfig simclr = PretrainConfig.defaults("simclr").toBuilder()
                .setting("temperature", 0.5f)
                .build();
        assertEquals(0.5f, simclr.methodSettings().get("temperature"));
        assertEquals(
                List.of("projection_hidden", "projection_dim", "temperature", "crop_scale_min", "jitter_strength"),
                Methods.get("simclr").settingKeys());
        var e = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("rotation").toBuilder()
                        .setting("temperature", 0.5f)
                        .build());
        assertEquals("temperature: not a setting of rotation; its settings: [crop_scale_min]", e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("relative-position").toBuilder()
                        .setting("clusters", 5)
                        .build());
        assertEquals("clusters: not a setting of relative-position, which has none", e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("moco-v2").toBuilder()
                        .setting("key_momentum", 1f)
                        .build());
        assertEquals("key_momentum: must be in [0, 1), got 1.0", e.getMessage());
        e = assertThrows(
                IllegalArgumentException.class,
                () -> PretrainConfig.defaults("jigsaw").toBuilder()
                        .setting("jigsaw_permutations", "many")
                        .build());
        assertEquals("jigsaw_permutations: expected a whole number, got 'many'", e.getMessage());
    }

    @Test
    void changingTheMethodStartsFromItsOwnSettings() {
        PretrainConfig c = PretrainConfig.defaults("simclr").toBuilder()
                .epochs(3)
                .method("deepcluster")
                .build();
        assertEquals("deepcluster", c.method());
        assertEquals(Methods.get("deepcluster").defaults(), c.settings());
        assertEquals(3, c.epochs(), "training settings are kept");
    }

    @Test
    void methodsChangeTrainingDefaultsInTheirDefinition() {
        assertEquals(8, PretrainConfig.defaults("moco").epochs());
        assertEquals(6, PretrainConfig.defaults("simclr").epochs());
        PretrainConfig beit = PretrainConfig.defaults("beit");
        assertEquals("vit", beit.backbone());
        assertEquals(BackboneSpec.defaultWidth("vit"), beit.width());
        assertEquals(0.05f, beit.weightDecay());
        for (String name : Methods.NAMES) {
            PretrainConfig d = PretrainConfig.defaults(name);
            assertEquals(Methods.get(name).defaults(), d.settings(), name);
            assertTrue(
                    d.methodSettings().keySet().containsAll(Methods.get(name).settingKeys()),
                    name + ": provenance records the method's settings");
        }
    }
}
