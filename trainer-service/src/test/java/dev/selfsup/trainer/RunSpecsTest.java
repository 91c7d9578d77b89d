package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.proto.v1.Backbone;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.RunSpec;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** The API's RunSpec and core's PretrainConfig: every method maps both ways, nothing unknown is guessed. */
class RunSpecsTest {
    private static final Path CKPT = Path.of("ckpt");

    private static RunSpec spec(String method) {
        RunSpec.Builder b = RunSpec.newBuilder().setMethod(RunSpecs.method(method));
        return "beit".equals(method) ? b.setTokenizer("t").build() : b.build();
    }

    @Test
    void everyMethodRoundTripsThroughTheApi() {
        for (String name : Methods.NAMES) {
            RunSpec s = spec(name);
            PretrainConfig c = RunSpecs.toConfig(s, CKPT);
            assertEquals(name, c.method());
            RunSpec effective = RunSpecs.effective(s, c);
            assertEquals(s.getMethod(), effective.getMethod(), name);
            assertEquals(c, RunSpecs.toConfig(effective, CKPT), name + ": the recorded spec trains the same run");
            assertEquals(
                    RunSpecs.method(name),
                    Method.valueOf("METHOD_" + name.toUpperCase().replace('-', '_')));
        }
        assertEquals(Method.METHOD_MOCO_V2, RunSpecs.method("moco"), "an alias names its method");
    }

    /** The API's backbones are the registry's, both ways: a backbone added to one and not the other fails here. */
    @Test
    void everyBackboneOfTheRegistryIsInTheApiAndBack() {
        List<String> api = Backbone.getDescriptor().getValues().stream()
                .filter(v -> v.getNumber() != 0)
                .map(RunSpecs::coreName)
                .toList();
        assertEquals(
                new java.util.TreeSet<>(BackboneSpec.TYPES),
                new java.util.TreeSet<>(api),
                "Backbones.ALL against the Backbone enum");
        for (String type : BackboneSpec.TYPES) {
            RunSpec s = spec("simclr").toBuilder()
                    .setBackbone(Backbone.valueOf(RunSpecs.apiValue(Backbone.getDescriptor(), type)))
                    .build();
            assertEquals(type, RunSpecs.toConfig(s, CKPT).backbone(), type);
        }
    }

    @Test
    void theRecordedSpecIsWhatRuns() {
        for (String name : new String[] {"rotation", "colorization"}) {
            RunSpec effective = RunSpecs.effective(spec(name), RunSpecs.toConfig(spec(name), CKPT));
            assertEquals(0.5f, effective.getCropScaleMin(), name + " crops at least half the image by default");
        }
        RunSpec asked = spec("rotation").toBuilder().setCropScaleMin(0.3f).build();
        assertEquals(
                0.3f,
                RunSpecs.toConfig(asked, CKPT).methodSettings().get("crop_scale_min"),
                "an explicit value is taken as it is");
        assertEquals(
                0.2f, RunSpecs.toConfig(spec("simclr"), CKPT).methodSettings().get("crop_scale_min"));
        RunSpec jigsaw = RunSpecs.effective(spec("jigsaw"), RunSpecs.toConfig(spec("jigsaw"), CKPT));
        assertFalse(jigsaw.hasCropScaleMin(), "jigsaw has no crop: its recorded spec does not claim one");
        assertFalse(jigsaw.hasTemperature());
        assertEquals(100, jigsaw.getJigsawPermutations());
    }

    @Test
    void backboneDefaultsComeFromOnePlace() {
        UnaryOperator<RunSpec.Builder> resnet = b -> b.setBackbone(Backbone.BACKBONE_RESNET18);
        PretrainConfig r =
                RunSpecs.toConfig(resnet.apply(spec("simclr").toBuilder()).build(), CKPT);
        assertEquals(64, r.width());
        PretrainConfig narrow = RunSpecs.toConfig(
                resnet.apply(spec("simclr").toBuilder()).setWidth(16).build(), CKPT);
        assertEquals(16, narrow.width(), "an explicit width wins over the backbone's default");
        PretrainConfig convnetForBeit = RunSpecs.toConfig(
                spec("beit").toBuilder()
                        .setBackbone(Backbone.BACKBONE_SMALL_CONVNET)
                        .build(),
                CKPT);
        assertEquals(32, convnetForBeit.width(), "the small ConvNet's width, not the ViT's");
        assertEquals(1, convnetForBeit.depth());
        assertEquals(128, RunSpecs.toConfig(spec("beit"), CKPT).width());
    }

    @Test
    void unknownEnumValuesAreRefusedNotGuessed() {
        assertInvalid(RunSpec.newBuilder().setMethodValue(99).build(), "method: unknown value");
        assertInvalid(RunSpec.newBuilder().setBackboneValue(99).build(), "backbone: unknown value");
        assertInvalid(RunSpec.newBuilder().setOptimizerValue(99).build(), "optimizer: unknown value");
        assertInvalid(RunSpec.newBuilder().setDeviceValue(99).build(), "device: unknown value");
    }

    private static void assertInvalid(RunSpec s, String start) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> RunSpecs.toConfig(s, CKPT));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(
                e.getStatus().getDescription().startsWith(start), e.getStatus().getDescription());
    }

    @Test
    void everyMethodSettingHasAnApiField() {
        assertEquals(List.of(), RunSpecs.settingsWithoutField());
        RunSpec s = spec("simclr").toBuilder()
                .setProjectionHidden(64)
                .setTemperature(0.5f)
                .build();
        PretrainConfig c = RunSpecs.toConfig(s, CKPT);
        assertEquals(64, c.methodSettings().get("projection_hidden"));
        assertEquals(0.5f, RunSpecs.effective(s, c).getTemperature());
    }

    @Test
    void aSettingOfAnotherMethodIsNotUsedNorRecordedAndBadValuesAreRefused() {
        RunSpec s = spec("rotation").toBuilder()
                .setTemperature(0.5f)
                .setCropScaleMin(0.6f)
                .build();
        PretrainConfig c = RunSpecs.toConfig(s, CKPT);
        assertEquals(Map.of("crop_scale_min", 0.6f), c.methodSettings());
        assertFalse(RunSpecs.effective(s, c).hasTemperature(), "the recorded spec shows what ran");
        assertInvalid(
                spec("jigsaw").toBuilder().setJigsawPermutations(0).build(),
                "jigsaw_permutations: must be in [2, 10000], got 0");
        assertInvalid(spec("simclr").toBuilder().setWidth(0).build(), "width: must be positive, got 0");
        assertInvalid(spec("simclr").toBuilder().setSteps(0).build(), "steps: must be positive, got 0");
        assertInvalid(spec("simclr").toBuilder().setEpochs(-1).build(), "epochs: must be positive, got -1");
    }

    @Test
    void replicasAndBatchNormComeThroughTheApiAndAreCheckedByName() {
        PretrainConfig simclr = RunSpecs.toConfig(spec("simclr"), CKPT);
        assertEquals(1, simclr.replicas());
        assertEquals("sync", simclr.batchNorm(), "SimCLR's batch norm spans all replicas, as in its paper");
        RunSpec s = spec("moco-v2").toBuilder()
                .setReplicas(4)
                .setBatchSize(64)
                .setBatchNorm(dev.selfsup.proto.v1.BatchNorm.BATCH_NORM_PER_DEVICE)
                .build();
        PretrainConfig moco = RunSpecs.toConfig(s, CKPT);
        assertEquals(4, moco.replicas());
        assertEquals("per-device", moco.batchNorm());
        RunSpec effective = RunSpecs.effective(s, moco);
        assertEquals(4, effective.getReplicas());
        assertEquals(dev.selfsup.proto.v1.BatchNorm.BATCH_NORM_PER_DEVICE, effective.getBatchNorm());
        assertInvalid(spec("jigsaw").toBuilder().setReplicas(2).build(), "replicas: jigsaw trains on one device only");
        assertInvalid(
                spec("moco-v2").toBuilder().setReplicas(3).setBatchSize(256).build(),
                "batch_size: 256 does not split evenly over 3 replicas");
        assertInvalid(spec("simclr").toBuilder().setReplicas(0).build(), "replicas: must be between 1 and 64");
        assertInvalid(spec("simclr").toBuilder().setBatchNormValue(9).build(), "batch_norm: unknown value");
    }
}
