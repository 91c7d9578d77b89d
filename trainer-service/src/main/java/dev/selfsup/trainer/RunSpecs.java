package dev.selfsup.trainer;

import dev.selfsup.service.DataRoot;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.proto.v1.Backbone;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DevicePreference;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.Optimizer;
import dev.selfsup.proto.v1.RunSpec;
import io.grpc.Status;
import java.nio.file.Path;

/** Translates between the API's RunSpec and core's PretrainConfig, filling defaults and checking values. */
public final class RunSpecs {
    private RunSpecs() {}

    /** The core method name of an API method; methods this build lacks are INVALID_ARGUMENT. */
    public static String methodName(Method m) {
        return switch (m) {
            case METHOD_UNSPECIFIED, METHOD_SIMCLR -> "simclr";
            case METHOD_MOCO_V2 -> "moco-v2";
            case METHOD_ROTATION -> "rotation";
            case METHOD_RELATIVE_POSITION -> "relative-position";
            case METHOD_JIGSAW -> "jigsaw";
            case METHOD_COLORIZATION -> "colorization";
            case METHOD_DEEPCLUSTER -> "deepcluster";
            case METHOD_BEIT -> "beit";
            case UNRECOGNIZED -> throw invalid("method: unknown value");
            default -> throw invalid("method: " + m + " is not implemented in this build");
        };
    }

    /** The API method of a core method name. */
    public static Method method(String name) {
        return switch (name) {
            case "moco-v2", "moco" -> Method.METHOD_MOCO_V2;
            case "rotation" -> Method.METHOD_ROTATION;
            case "relative-position", "context" -> Method.METHOD_RELATIVE_POSITION;
            case "jigsaw" -> Method.METHOD_JIGSAW;
            case "colorization" -> Method.METHOD_COLORIZATION;
            case "deepcluster" -> Method.METHOD_DEEPCLUSTER;
            case "beit" -> Method.METHOD_BEIT;
            default -> Method.METHOD_SIMCLR;
        };
    }

    /** The config a spec asks for, with every unset field at the method's default. */
    public static PretrainConfig toConfig(RunSpec s, Path checkpointDir) {
        PretrainConfig.Builder b = PretrainConfig.defaults(methodName(s.getMethod())).toBuilder();
        switch (s.getBackbone()) {
            case BACKBONE_RESNET18 -> b.backbone("resnet18").width(64);
            case BACKBONE_SMALL_CONVNET -> b.backbone("small-convnet");
            case BACKBONE_VIT -> b.backbone("vit").width(128).depth(4);
            case BACKBONE_VIT_CLS -> b.backbone("vit-cls").width(128).depth(4);
            case BACKBONE_UNSPECIFIED -> { } // the method's default: a ViT for BEiT, the small ConvNet otherwise
            default -> throw invalid("backbone: unknown value");
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
        switch (s.getOptimizer()) {
            case OPTIMIZER_SGD -> b.optimizer("sgd");
            case OPTIMIZER_LARS -> b.optimizer("lars");
            case OPTIMIZER_ADAM -> b.optimizer("adam");
            case OPTIMIZER_ADAMW -> b.optimizer("adamw");
            case OPTIMIZER_UNSPECIFIED -> { }
            default -> throw invalid("optimizer: unknown value");
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
        b.device(switch (s.getDevice()) {
            case DEVICE_PREFERENCE_CPU -> "cpu";
            case DEVICE_PREFERENCE_GPU -> "gpu";
            default -> "auto";
        });
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
                .setBackbone(switch (c.backbone()) {
                    case "resnet18" -> Backbone.BACKBONE_RESNET18;
                    case "vit" -> Backbone.BACKBONE_VIT;
                    case "vit-cls" -> Backbone.BACKBONE_VIT_CLS;
                    default -> Backbone.BACKBONE_SMALL_CONVNET;
                })
                .setWidth(c.width()).setDepth(c.depth()).setBatchSize(c.batchSize())
                .setOptimizer(switch (c.optimizer()) {
                    case "sgd" -> Optimizer.OPTIMIZER_SGD;
                    case "adam" -> Optimizer.OPTIMIZER_ADAM;
                    case "adamw" -> Optimizer.OPTIMIZER_ADAMW;
                    default -> Optimizer.OPTIMIZER_LARS;
                })
                .setLearningRate(c.learningRate()).setWeightDecay(c.weightDecay()).setMomentum(c.momentum())
                .setWarmupEpochs(c.warmupEpochs()).setClipNorm(c.clipNorm()).setTemperature(c.temperature())
                .setProjectionDim(c.projectionDim()).setQueueSize(c.queueSize()).setKeyMomentum(c.keyMomentum())
                .setCropScaleMin(c.cropScaleMin()).setJitterStrength(c.jitterStrength()).setSeed(c.seed())
                .setCheckpointEverySteps(c.checkpointEverySteps())
                .setJigsawPermutations(c.permutations()).setClusters(c.clusters()).setPcaDim(c.pcaDim())
                .setTokenizer(c.tokenizer()).setMaskRatio(c.maskRatio())
                .setDevice(switch (c.device()) {
                    case "cpu" -> DevicePreference.DEVICE_PREFERENCE_CPU;
                    case "gpu" -> DevicePreference.DEVICE_PREFERENCE_GPU;
                    default -> DevicePreference.DEVICE_PREFERENCE_UNSPECIFIED;
                });
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
