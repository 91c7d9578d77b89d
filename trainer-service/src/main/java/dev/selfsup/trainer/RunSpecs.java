package dev.selfsup.trainer;

import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.proto.v1.Backbone;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DevicePreference;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.Optimizer;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.service.DataRoot;
import io.grpc.Status;
import java.nio.file.Path;
import java.util.Locale;

/** Translates between the API's RunSpec and core's PretrainConfig, filling defaults and checking values. */
public final class RunSpecs {
    private RunSpecs() {}

    /**
     * The core name of an API enum value: {@code METHOD_MOCO_V2} with prefix {@code METHOD_} is "moco-v2". Every
     * enum of the API (methods, backbones, optimizers, devices) names its core value this way, so a new value needs
     * no mapping code here.
     */
    static String coreName(Enum<?> value, String prefix) {
        return value.name().substring(prefix.length()).toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The API enum value of a core name (the inverse of {@link #coreName}). */
    static <E extends Enum<E>> E apiValue(Class<E> type, String prefix, String coreName) {
        return Enum.valueOf(type, prefix + coreName.toUpperCase(Locale.ROOT).replace('-', '_'));
    }

    /** The core method name of an API method (unset: SimCLR); values this build lacks are INVALID_ARGUMENT. */
    public static String methodName(Method m) {
        if (m == Method.METHOD_UNSPECIFIED) {
            return "simclr";
        }
        if (m == Method.UNRECOGNIZED) {
            throw invalid("method: unknown value; known: " + Methods.NAMES);
        }
        String name = coreName(m, "METHOD_");
        if (!Methods.NAMES.contains(name)) {
            throw invalid("method: " + name + " is not implemented in this build; known: " + Methods.NAMES);
        }
        return name;
    }

    /** The API method of a core method name. */
    public static Method method(String name) {
        return apiValue(Method.class, "METHOD_", Methods.canonical(name));
    }

    /** The config a spec asks for, with every unset field at the method's default. */
    public static PretrainConfig toConfig(RunSpec s, Path checkpointDir) {
        PretrainConfig.Builder b = PretrainConfig.defaults(methodName(s.getMethod())).toBuilder();
        if (s.getBackbone() == Backbone.UNRECOGNIZED) {
            throw invalid("backbone: unknown value; known: " + BackboneSpec.TYPES);
        }
        if (s.getBackbone() != Backbone.BACKBONE_UNSPECIFIED) { // unset: the method's (a ViT for BEiT, else the small ConvNet)
            b.backboneAtDefaults(coreName(s.getBackbone(), "BACKBONE_"));
        }
        if (s.hasWidth()) {
            b.width(positive(s.getWidth(), "width"));
        }
        if (s.hasDepth()) {
            b.depth(positive(s.getDepth(), "depth"));
        }
        if (s.hasEpochs()) {
            b.epochs(positive(s.getEpochs(), "epochs")).steps(0);
        }
        if (s.hasSteps()) {
            if (s.getSteps() <= 0) {
                throw invalid("steps: must be positive, got " + s.getSteps());
            }
            b.steps(s.getSteps());
        }
        if (s.hasBatchSize()) {
            b.batchSize(s.getBatchSize());
        }
        if (s.getOptimizer() == Optimizer.UNRECOGNIZED) {
            throw invalid("optimizer: unknown value; known: sgd, lars, adam, adamw");
        }
        if (s.getOptimizer() != Optimizer.OPTIMIZER_UNSPECIFIED) {
            b.optimizer(coreName(s.getOptimizer(), "OPTIMIZER_"));
        }
        if (s.hasLearningRate()) {
            b.learningRate(s.getLearningRate());
        }
        if (s.hasWeightDecay()) {
            b.weightDecay(s.getWeightDecay());
        }
        if (s.hasMomentum()) {
            b.momentum(s.getMomentum());
        }
        if (s.hasWarmupEpochs()) {
            b.warmupEpochs(s.getWarmupEpochs());
        }
        if (s.hasClipNorm()) {
            b.clipNorm(s.getClipNorm());
        }
        if (s.hasTemperature()) {
            b.temperature(s.getTemperature());
        }
        if (s.hasProjectionDim()) {
            b.projectionDim(s.getProjectionDim());
        }
        if (s.hasQueueSize()) {
            b.queueSize(positive(s.getQueueSize(), "queue_size"));
        }
        if (s.hasJigsawPermutations()) {
            b.permutations(s.getJigsawPermutations() == 0 ? -1 : s.getJigsawPermutations());
        }
        if (s.hasClusters()) {
            b.clusters(s.getClusters() == 0 ? -1 : s.getClusters());
        }
        if (s.hasPcaDim()) {
            b.pcaDim(s.getPcaDim() == 0 ? -1 : s.getPcaDim());
        }
        if (!s.getTokenizer().isBlank()) {
            b.tokenizer(s.getTokenizer());
        }
        if (s.hasMaskRatio()) {
            b.maskRatio(s.getMaskRatio() == 0 ? -1 : s.getMaskRatio());
        }
        if (s.hasKeyMomentum()) {
            b.keyMomentum(s.getKeyMomentum());
        }
        if (s.hasCropScaleMin()) {
            b.cropScaleMin(s.getCropScaleMin());
        }
        if (s.hasJitterStrength()) {
            b.jitterStrength(s.getJitterStrength());
        }
        if (s.hasSeed()) {
            b.seed(s.getSeed());
        }
        if (s.hasCheckpointEverySteps()) {
            b.checkpointEverySteps(s.getCheckpointEverySteps());
        }
        if (s.getDevice() == DevicePreference.UNRECOGNIZED) {
            throw invalid("device: unknown value; known: auto, cpu, gpu");
        }
        b.device(s.getDevice() == DevicePreference.DEVICE_PREFERENCE_UNSPECIFIED ? "auto"
                : coreName(s.getDevice(), "DEVICE_PREFERENCE_"));
        b.checkpointDir(checkpointDir);
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw invalid(e.getMessage());
        }
    }

    /** The spec with every default written in: what the run really does. */
    public static RunSpec effective(RunSpec s, PretrainConfig c) {
        RunSpec.Builder b = s.toBuilder()
                .setMethod(method(c.method()))
                .setBackbone(apiValue(Backbone.class, "BACKBONE_", c.backbone()))
                .setWidth(c.width()).setDepth(c.depth()).setBatchSize(c.batchSize())
                .setOptimizer(apiValue(Optimizer.class, "OPTIMIZER_", c.optimizer()))
                .setLearningRate(c.learningRate()).setWeightDecay(c.weightDecay()).setMomentum(c.momentum())
                .setWarmupEpochs(c.warmupEpochs()).setClipNorm(c.clipNorm()).setTemperature(c.temperature())
                .setProjectionDim(c.projectionDim()).setQueueSize(c.queueSize()).setKeyMomentum(c.keyMomentum())
                .setCropScaleMin(c.cropScaleMin()).setJitterStrength(c.jitterStrength()).setSeed(c.seed())
                .setCheckpointEverySteps(c.checkpointEverySteps())
                .setJigsawPermutations(c.permutations()).setClusters(c.clusters()).setPcaDim(c.pcaDim())
                .setTokenizer(c.tokenizer()).setMaskRatio(c.maskRatio())
                .setDevice("auto".equals(c.device()) ? DevicePreference.DEVICE_PREFERENCE_UNSPECIFIED
                        : apiValue(DevicePreference.class, "DEVICE_PREFERENCE_", c.device()));
        if (c.steps() > 0) {
            b.setSteps(c.steps()).clearEpochs();
        } else {
            b.setEpochs(c.epochs()).clearSteps();
        }
        DatasetRef d = s.getDataset();
        if (d.getPath().isBlank()) {
            d = d.toBuilder().setPath(DataRoot.DEFAULT_DATASET).build();
        }
        return b.setDataset(d).build();
    }

    private static int positive(int v, String field) {
        if (v <= 0) {
            throw invalid(field + ": must be positive, got " + v);
        }
        return v;
    }

    static io.grpc.StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
