package dev.selfsup.core.train;

import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.optim.GradientOptimizer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Everything that defines a pretraining run besides its data. The defaults are the settings measured to work on
 * Fashion-MNIST with the small ConvNet on a 2-core CPU (see docs/benchmarks.md): a one-line request is a useful run.
 *
 * @param method one of {@link dev.selfsup.core.method.Methods#NAMES}
 * @param backbone "small-convnet" or "resnet18"
 * @param width backbone width (channels of its first stage)
 * @param depth conv layers per stage of the small ConvNet
 * @param batchSize images per step (each gives two views)
 * @param epochs passes over the data; ignored when {@code steps > 0}
 * @param steps optimizer steps, or 0 to use {@code epochs}
 * @param optimizer "sgd", "lars", "adam" or "adamw"
 * @param learningRate peak learning rate after warm-up
 * @param momentum SGD/LARS momentum
 * @param weightDecay weight decay (not applied to biases and batch-norm parameters)
 * @param warmupEpochs linear warm-up, in epochs (may be fractional)
 * @param finalLrFraction the cosine schedule ends at this fraction of the peak rate
 * @param clipNorm clip gradients to this global L2 norm; 0 disables clipping
 * @param temperature the contrastive temperature
 * @param projectionHidden hidden units of the projection head
 * @param projectionDim output size of the projection head
 * @param queueSize MoCo's number of negative keys
 * @param keyMomentum MoCo's EMA coefficient of the key encoder
 * @param cropScaleMin smallest area fraction of the random resized crop
 * @param jitterStrength colour-jitter strength s
 * @param seed the run's seed: data order, augmentations and initialisation follow from it
 * @param device "auto" (a GPU when there is one), "cpu" or "gpu"
 * @param checkpointDir where checkpoints go; null for none
 * @param checkpointEverySteps steps between checkpoints (a final one is always written)
 * @param keepCheckpoints how many recent checkpoints to keep
 * @param logEverySteps steps between progress reports (the loss is read from the device only then)
 * @param permutations the jigsaw permutation set size (0: the default, 100)
 * @param clusters DeepCluster's k (0: the default, 100)
 * @param pcaDim DeepCluster's PCA dimension before k-means (0: the default, 32)
 * @param tokenizer BEiT: the name of the visual tokenizer that gives the targets
 * @param maskRatio BEiT: the share of patches masked (0: the default, 0.4)
 */
public record PretrainConfig(String method, String backbone, int width, int depth, int batchSize, int epochs,
        long steps, String optimizer, float learningRate, float momentum, float weightDecay, float warmupEpochs,
        float finalLrFraction, float clipNorm, float temperature, int projectionHidden, int projectionDim,
        int queueSize, float keyMomentum, float cropScaleMin, float jitterStrength, long seed, String device,
        Path checkpointDir, long checkpointEverySteps, int keepCheckpoints, int logEverySteps, int permutations,
        int clusters, int pcaDim, String tokenizer, float maskRatio) {

    public PretrainConfig {
        method = Methods.canonical(method);
        backbone = backbone == null ? null : backbone.toLowerCase(Locale.ROOT);
        optimizer = optimizer == null ? null : optimizer.toLowerCase(Locale.ROOT);
        device = device == null ? null : device.toLowerCase(Locale.ROOT).trim();
        // 0 means "the default", so configs saved before these settings existed read back as they ran.
        permutations = permutations == 0 ? 100 : permutations;
        clusters = clusters == 0 ? 100 : clusters;
        pcaDim = pcaDim == 0 ? 32 : pcaDim;
        tokenizer = tokenizer == null ? "" : tokenizer;
        maskRatio = maskRatio == 0 ? 0.4f : maskRatio;
        require(maskRatio > 0 && maskRatio < 1, "mask_ratio", "must be in (0, 1), got " + maskRatio);
        require(permutations >= 2 && permutations <= 10000, "jigsaw_permutations", "must be in [2, 10000], got " + permutations);
        require(clusters >= 2, "clusters", "must be at least 2, got " + clusters);
        require(pcaDim >= 2, "pca_dim", "must be at least 2, got " + pcaDim);
        require(backbone != null && BackboneSpec.TYPES.contains(backbone), "backbone",
                "must be one of " + BackboneSpec.TYPES + ", got " + backbone);
        require(optimizer != null && GradientOptimizer.NAMES.contains(optimizer), "optimizer",
                "must be one of " + GradientOptimizer.NAMES + ", got " + optimizer);
        require(device != null && device.matches("auto|cpu|gpu(:\\d+)?"), "device",
                "must be auto, cpu, gpu or gpu:N, got " + device);
        require(batchSize >= 2, "batch_size", "must be at least 2 (contrastive pairs need other images), got " + batchSize);
        require(epochs > 0 || steps > 0, "epochs", "give a positive number of epochs or steps");
        require(learningRate > 0, "learning_rate", "must be positive, got " + learningRate);
        require(momentum >= 0 && momentum < 1, "momentum", "must be in [0, 1), got " + momentum);
        require(weightDecay >= 0, "weight_decay", "must be >= 0, got " + weightDecay);
        require(warmupEpochs >= 0, "warmup_epochs", "must be >= 0");
        require(finalLrFraction >= 0 && finalLrFraction <= 1, "final_lr_fraction", "must be in [0, 1]");
        require(clipNorm >= 0, "clip_norm", "must be >= 0");
        require(temperature > 0, "temperature", "must be positive, got " + temperature);
        require(projectionHidden > 0 && projectionDim > 0, "projection_dim", "must be positive");
        require(cropScaleMin > 0 && cropScaleMin <= 1, "crop_scale_min", "must be in (0, 1], got " + cropScaleMin);
        require(jitterStrength >= 0, "jitter_strength", "must be >= 0");
        require(checkpointEverySteps >= 0 && keepCheckpoints >= 1, "checkpoint_every_steps", "must be >= 0 (keep >= 1)");
        require(logEverySteps >= 1, "log_every_steps", "must be >= 1");
    }

    private static void require(boolean ok, String field, String why) {
        if (!ok) {
            throw new IllegalArgumentException(field + ": " + why);
        }
    }

    /** The defaults for {@code method} ("simclr" or "moco-v2"). */
    public static PretrainConfig defaults(String method) {
        String m = Methods.canonical(method);
        boolean moco = "moco-v2".equals(m);
        // Measured on Fashion-MNIST with the small ConvNet (docs/benchmarks.md, "Choosing the defaults"): for runs of a few
        // epochs AdamW (lr 4e-3, wd 1e-4) beat LARS (lr 0.6) by 1.6 points of kNN accuracy at 2 epochs;
        // temperature 0.2 beat 0.5; width 32 beat width 16 at equal time. MoCo's key momentum is 0.99 rather than
        // 0.999 because short runs need the key encoder to follow faster.
        // MoCo steps are cheaper (the key encoder has no backward pass): 8 epochs take the time of SimCLR's 6.
        // RotNet and colorization train on lightly augmented images: a crop of a fifth of the image would hide the
        // object's orientation cues and most of its colours, so at least half of it is kept.
        float cropScaleMin = "rotation".equals(m) || "colorization".equals(m) ? 0.5f : 0.2f;
        if ("beit".equals(m)) {
            // A small ViT (width 128, 4 layers, 4x4 patches on 28 px) with BEiT's optimizer settings: AdamW, weight
            // decay 0.05; the learning rate is scaled down from BEiT's 1.5e-3 at batch 2048.
            return new PretrainConfig(m, BackboneSpec.VIT, BackboneSpec.defaultWidth(BackboneSpec.VIT),
                    BackboneSpec.defaultDepth(BackboneSpec.VIT), 256, 6, 0, "adamw", 0.001f, 0.9f, 0.05f, 1f, 0.01f,
                    1f, 0.2f, 512, 128, 4096, 0.99f, cropScaleMin, 0.5f, 42L, "auto", null, 500, 2, 20, 100, 100, 32, "", 0.4f);
        }
        return new PretrainConfig(m, BackboneSpec.SMALL_CONVNET, BackboneSpec.defaultWidth(BackboneSpec.SMALL_CONVNET),
                BackboneSpec.defaultDepth(BackboneSpec.SMALL_CONVNET), 256, moco ? 8 : 6, 0, "adamw", 0.004f, 0.9f, 1e-4f, 1f, 0.01f,
                0f, 0.2f, 512, 128, 4096, 0.99f, cropScaleMin, 0.5f, 42L, "auto", null, 500, 2, 20, 100, 100, 32, "", 0.4f);
    }

    /** Steps per epoch for a dataset of {@code n} images (full batches only). */
    public int stepsPerEpoch(int n) {
        return Math.max(1, n / batchSize);
    }

    /** The run's length in steps for a dataset of {@code n} images. */
    public long totalSteps(int n) {
        return steps > 0 ? steps : (long) epochs * stepsPerEpoch(n);
    }

    /** The settings that shape the result, for provenance. */
    public Map<String, Object> hyperparameters() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("batch_size", batchSize);
        h.put("epochs", epochs);
        h.put("steps", steps);
        h.put("optimizer", optimizer);
        h.put("learning_rate", learningRate);
        h.put("momentum", momentum);
        h.put("weight_decay", weightDecay);
        h.put("warmup_epochs", warmupEpochs);
        h.put("final_lr_fraction", finalLrFraction);
        h.put("clip_norm", clipNorm);
        h.put("crop_scale_min", cropScaleMin);
        h.put("jitter_strength", jitterStrength);
        return h;
    }

    /** A builder that starts from these settings. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.method = method;
        b.backbone = backbone;
        b.width = width;
        b.depth = depth;
        b.batchSize = batchSize;
        b.epochs = epochs;
        b.steps = steps;
        b.optimizer = optimizer;
        b.learningRate = learningRate;
        b.momentum = momentum;
        b.weightDecay = weightDecay;
        b.warmupEpochs = warmupEpochs;
        b.finalLrFraction = finalLrFraction;
        b.clipNorm = clipNorm;
        b.temperature = temperature;
        b.projectionHidden = projectionHidden;
        b.projectionDim = projectionDim;
        b.queueSize = queueSize;
        b.keyMomentum = keyMomentum;
        b.cropScaleMin = cropScaleMin;
        b.jitterStrength = jitterStrength;
        b.seed = seed;
        b.device = device;
        b.checkpointDir = checkpointDir;
        b.checkpointEverySteps = checkpointEverySteps;
        b.keepCheckpoints = keepCheckpoints;
        b.logEverySteps = logEverySteps;
        b.permutations = permutations;
        b.clusters = clusters;
        b.pcaDim = pcaDim;
        b.tokenizer = tokenizer;
        b.maskRatio = maskRatio;
        return b;
    }

    /** Builds a config from defaults and a few changes: {@code defaults("simclr").toBuilder().epochs(5).build()}. */
    public static final class Builder {
        private String method;
        private String backbone;
        private int width;
        private int depth;
        private int batchSize;
        private int epochs;
        private long steps;
        private String optimizer;
        private float learningRate;
        private float momentum;
        private float weightDecay;
        private float warmupEpochs;
        private float finalLrFraction;
        private float clipNorm;
        private float temperature;
        private int projectionHidden;
        private int projectionDim;
        private int queueSize;
        private float keyMomentum;
        private float cropScaleMin;
        private float jitterStrength;
        private long seed;
        private String device;
        private Path checkpointDir;
        private long checkpointEverySteps;
        private int keepCheckpoints;
        private int logEverySteps;
        private int permutations;
        private int clusters;
        private int pcaDim;
        private String tokenizer;
        private float maskRatio;

        public Builder method(String v) {
            method = v;
            return this;
        }

        public Builder backbone(String v) {
            backbone = v;
            return this;
        }

        /** The backbone {@code type} at its default width and depth (one place: {@link BackboneSpec}). */
        public Builder backboneAtDefaults(String type) {
            return backbone(type).width(BackboneSpec.defaultWidth(type)).depth(BackboneSpec.defaultDepth(type));
        }

        public Builder width(int v) {
            width = v;
            return this;
        }

        public Builder depth(int v) {
            depth = v;
            return this;
        }

        public Builder batchSize(int v) {
            batchSize = v;
            return this;
        }

        public Builder epochs(int v) {
            epochs = v;
            return this;
        }

        public Builder steps(long v) {
            steps = v;
            return this;
        }

        public Builder optimizer(String v) {
            optimizer = v;
            return this;
        }

        public Builder learningRate(float v) {
            learningRate = v;
            return this;
        }

        public Builder momentum(float v) {
            momentum = v;
            return this;
        }

        public Builder weightDecay(float v) {
            weightDecay = v;
            return this;
        }

        public Builder warmupEpochs(float v) {
            warmupEpochs = v;
            return this;
        }

        public Builder finalLrFraction(float v) {
            finalLrFraction = v;
            return this;
        }

        public Builder clipNorm(float v) {
            clipNorm = v;
            return this;
        }

        public Builder temperature(float v) {
            temperature = v;
            return this;
        }

        public Builder projectionHidden(int v) {
            projectionHidden = v;
            return this;
        }

        public Builder projectionDim(int v) {
            projectionDim = v;
            return this;
        }

        public Builder queueSize(int v) {
            queueSize = v;
            return this;
        }

        public Builder keyMomentum(float v) {
            keyMomentum = v;
            return this;
        }

        public Builder cropScaleMin(float v) {
            cropScaleMin = v;
            return this;
        }

        public Builder jitterStrength(float v) {
            jitterStrength = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder device(String v) {
            device = v;
            return this;
        }

        public Builder checkpointDir(Path v) {
            checkpointDir = v;
            return this;
        }

        public Builder checkpointEverySteps(long v) {
            checkpointEverySteps = v;
            return this;
        }

        public Builder keepCheckpoints(int v) {
            keepCheckpoints = v;
            return this;
        }

        public Builder logEverySteps(int v) {
            logEverySteps = v;
            return this;
        }

        public Builder permutations(int v) {
            permutations = v;
            return this;
        }

        public Builder clusters(int v) {
            clusters = v;
            return this;
        }

        public Builder pcaDim(int v) {
            pcaDim = v;
            return this;
        }

        public Builder tokenizer(String v) {
            tokenizer = v;
            return this;
        }

        public Builder maskRatio(float v) {
            maskRatio = v;
            return this;
        }

        public PretrainConfig build() {
            return new PretrainConfig(method, backbone, width, depth, batchSize, epochs, steps, optimizer, learningRate, momentum, weightDecay, warmupEpochs, finalLrFraction, clipNorm, temperature, projectionHidden, projectionDim, queueSize, keyMomentum, cropScaleMin, jitterStrength, seed, device, checkpointDir, checkpointEverySteps, keepCheckpoints, logEverySteps, permutations, clusters, pcaDim, tokenizer, maskRatio);
        }
    }
}
