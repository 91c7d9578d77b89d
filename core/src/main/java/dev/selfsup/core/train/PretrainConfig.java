package dev.selfsup.core.train;

import static dev.selfsup.core.config.Records.require;

import dev.selfsup.core.config.Records;
import dev.selfsup.core.method.MethodDefinition;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.optim.GradientOptimizer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Everything that defines a pretraining run besides its data: the method with its own settings (a record the
 * method declares, see {@link MethodDefinition}), the backbone and the training settings. The defaults are the
 * settings measured to work on Fashion-MNIST with the small ConvNet on a 2-core CPU (see docs/benchmarks.md): a
 * one-line request is a useful run.
 *
 * @param method one of {@link Methods#NAMES}
 * @param settings the method's settings record
 * @param backbone one of {@link BackboneSpec#TYPES}
 * @param width backbone width (channels of its first stage; the ViT's embedding size)
 * @param depth conv layers per stage of the small ConvNet; the ViT's layers
 * @param batchSize images per step
 * @param epochs passes over the data; ignored when {@code steps > 0}
 * @param steps optimizer steps, or 0 to use {@code epochs}
 * @param optimizer one of {@link GradientOptimizer#NAMES}
 * @param learningRate peak learning rate after warm-up
 * @param momentum SGD/LARS momentum
 * @param weightDecay weight decay (not applied to biases and batch-norm parameters)
 * @param warmupEpochs linear warm-up, in epochs (may be fractional)
 * @param finalLrFraction the cosine schedule ends at this fraction of the peak rate
 * @param clipNorm clip gradients to this global L2 norm; 0 disables clipping
 * @param emaDecay when positive, an exponential moving average of the encoder's weights with this decay is what the
 *     run evaluates and exports ({@link WeightAverage}); 0 evaluates and exports the last weights
 * @param seed the run's seed: data order, augmentations and initialisation follow from it
 * @param device "auto" (a GPU when there is one), "cpu", "gpu" or "gpu:N"
 * @param replicas data-parallel replicas the batch is split over: GPUs from the chosen one on, or copies on the CPU
 * @param workers worker processes (ranks) that train the run together, each on its share of every batch, their
 *     gradients summed through Gloo ({@link dev.selfsup.core.parallel.ProcessParallel}); 1 for one process
 * @param batchNorm with several replicas, "sync" (batch statistics of the whole batch) or "per-device" (of each
 *     replica's share; MoCo v2 then computes its keys on a shuffled split, the paper's shuffle-BN)
 * @param precision "float32", or "bfloat16": the networks' forward passes under bfloat16 autocast with float32
 *     weights, optimizer and losses ({@link dev.selfsup.core.engine.Bfloat16}), used only where this machine's
 *     bfloat16 check passes; the run records the precision it trained in
 * @param checkpointDir where checkpoints go; null for none
 * @param checkpointEverySteps steps between checkpoints (a final one is always written)
 * @param keepCheckpoints how many recent checkpoints to keep
 * @param logEverySteps steps between progress reports (the loss is read from the device only then)
 */
public record PretrainConfig(
        String method,
        Record settings,
        String backbone,
        int width,
        int depth,
        int batchSize,
        int epochs,
        long steps,
        String optimizer,
        float learningRate,
        float momentum,
        float weightDecay,
        float warmupEpochs,
        float finalLrFraction,
        float clipNorm,
        float emaDecay,
        long seed,
        String device,
        int replicas,
        int workers,
        String batchNorm,
        String precision,
        Path checkpointDir,
        long checkpointEverySteps,
        int keepCheckpoints,
        int logEverySteps) {

    /** The most data-parallel replicas a run may ask for (more than the GPUs of any one machine). */
    public static final int MAX_REPLICAS = 64;

    /** The most worker processes a run may ask for. */
    public static final int MAX_WORKERS = 64;

    /** How batch norm treats a batch split over replicas: "per-device" or "sync". */
    public static final java.util.List<String> BATCH_NORM_MODES = java.util.List.of("per-device", "sync");

    /** The methods whose networks do not run through the step's batch forward, so bfloat16 cannot reach them. */
    private static final java.util.Set<String> FLOAT32_ONLY = java.util.Set.of("beit");

    /** The precisions a run can train in. */
    public static final java.util.List<String> PRECISIONS = java.util.List.of("float32", "bfloat16");

    /** The training settings every method starts from, before its own {@link MethodDefinition#trainingDefaults}. */
    private static final Map<String, Object> COMMON_DEFAULTS = commonDefaults();

    public PretrainConfig {
        MethodDefinition<?> definition = Methods.get(method);
        method = definition.name();
        settings = settings == null ? definition.defaults() : definition.cast(settings);
        backbone = backbone == null ? null : backbone.toLowerCase(Locale.ROOT).trim();
        optimizer =
                optimizer == null ? null : optimizer.toLowerCase(Locale.ROOT).trim();
        device = device == null ? null : device.toLowerCase(Locale.ROOT).trim();
        batchNorm =
                batchNorm == null ? null : batchNorm.toLowerCase(Locale.ROOT).trim();
        precision =
                precision == null ? null : precision.toLowerCase(Locale.ROOT).trim();
        require(
                backbone != null && BackboneSpec.TYPES.contains(backbone),
                "backbone",
                "must be one of " + BackboneSpec.TYPES + ", got " + backbone);
        require(width > 0, "width", "must be positive, got " + width);
        require(depth > 0, "depth", "must be positive, got " + depth);
        require(
                optimizer != null && GradientOptimizer.NAMES.contains(optimizer),
                "optimizer",
                "must be one of " + GradientOptimizer.NAMES + ", got " + optimizer);
        require(
                device != null && device.matches("auto|cpu|gpu(:\\d+)?"),
                "device",
                "must be auto, cpu, gpu or gpu:N, got " + device);
        require(
                replicas >= 1 && replicas <= MAX_REPLICAS,
                "replicas",
                "must be between 1 and " + MAX_REPLICAS + ", got " + replicas);
        require(
                replicas <= 1 || definition.dataParallel(),
                "replicas",
                method + " trains on one device only (set replicas to 1); data-parallel methods: "
                        + Methods.dataParallelNames());
        require(
                precision != null && PRECISIONS.contains(precision),
                "precision",
                "must be one of " + PRECISIONS + ", got " + precision);
        require(
                !"bfloat16".equals(precision) || !FLOAT32_ONLY.contains(method),
                "precision",
                method + " trains in float32 only (its ViT takes the image and its mask together, outside the step's"
                        + " batch forward, where bfloat16 regions are opened)");
        require(
                replicas <= 1 || "float32".equals(precision),
                "precision",
                "bfloat16 trains on one device per process (set replicas to 1, or use workers)");
        require(
                workers >= 1 && workers <= MAX_WORKERS,
                "workers",
                "must be between 1 and " + MAX_WORKERS + ", got " + workers);
        require(
                workers <= 1 || replicas <= 1,
                "workers",
                "a run uses either replicas (devices of one process) or workers (processes), not both");
        require(
                workers <= 1 || definition.dataParallel(),
                "workers",
                method + " trains in one process only (set workers to 1); methods that can use workers: "
                        + Methods.dataParallelNames());
        require(
                workers <= 1 || "per-device".equals(batchNorm),
                "batch_norm",
                "with workers, batch norm is per worker (per-device): synchronised batch norm across processes is not"
                        + " available");
        require(
                batchSize % Math.max(1, workers) == 0,
                "batch_size",
                batchSize + " does not split evenly over " + workers + " workers");
        require(
                BATCH_NORM_MODES.contains(batchNorm),
                "batch_norm",
                "must be one of " + BATCH_NORM_MODES + ", got " + batchNorm);
        require(
                batchSize % Math.max(1, replicas) == 0,
                "batch_size",
                batchSize + " does not split evenly over " + replicas + " replicas");
        require(
                batchSize >= 2,
                "batch_size",
                "must be at least 2 (contrastive pairs need other images), got " + batchSize);
        require(epochs >= 0, "epochs", "must be >= 0, got " + epochs);
        require(steps >= 0, "steps", "must be >= 0, got " + steps);
        require(epochs > 0 || steps > 0, "epochs", "give a positive number of epochs or steps");
        require(learningRate > 0, "learning_rate", "must be positive, got " + learningRate);
        require(momentum >= 0 && momentum < 1, "momentum", "must be in [0, 1), got " + momentum);
        require(weightDecay >= 0, "weight_decay", "must be >= 0, got " + weightDecay);
        require(warmupEpochs >= 0, "warmup_epochs", "must be >= 0, got " + warmupEpochs);
        require(finalLrFraction >= 0 && finalLrFraction <= 1, "final_lr_fraction", "must be in [0, 1]");
        require(clipNorm >= 0, "clip_norm", "must be >= 0, got " + clipNorm);
        require(emaDecay >= 0 && emaDecay < 1, "ema_decay", "must be in [0, 1) (0: off), got " + emaDecay);
        require(checkpointEverySteps >= 0, "checkpoint_every_steps", "must be >= 0, got " + checkpointEverySteps);
        require(keepCheckpoints >= 1, "keep_checkpoints", "must be at least 1, got " + keepCheckpoints);
        require(logEverySteps >= 1, "log_every_steps", "must be >= 1, got " + logEverySteps);
    }

    private static Map<String, Object> commonDefaults() {
        // Measured on Fashion-MNIST with the small ConvNet (docs/benchmarks.md, "Choosing the defaults"): for runs of
        // a few epochs AdamW (lr 4e-3, wd 1e-4) beat LARS (lr 0.6) by 1.6 points of kNN accuracy at 2 epochs; width
        // 32 beat width 16 at equal time.
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("batch_size", 256);
        d.put("epochs", 6);
        d.put("steps", 0L);
        d.put("optimizer", "adamw");
        d.put("learning_rate", 0.004f);
        d.put("momentum", 0.9f);
        d.put("weight_decay", 1e-4f);
        d.put("warmup_epochs", 1f);
        d.put("final_lr_fraction", 0.01f);
        d.put("clip_norm", 0f);
        d.put("ema_decay", 0f);
        d.put("seed", 42L);
        d.put("device", "auto");
        d.put("replicas", 1);
        d.put("workers", 1);
        d.put("batch_norm", "per-device");
        d.put("precision", "float32");
        d.put("checkpoint_every_steps", 500L);
        d.put("keep_checkpoints", 2);
        d.put("log_every_steps", 20);
        return Map.copyOf(d);
    }

    /** The defaults for {@code method}: the common training settings with the method's own changes. */
    public static PretrainConfig defaults(String method) {
        MethodDefinition<?> d = Methods.get(method);
        String backbone = (String) d.trainingDefaults().getOrDefault("backbone", BackboneSpec.SMALL_CONVNET);
        Map<String, Object> values = new HashMap<>(COMMON_DEFAULTS);
        values.put("width", BackboneSpec.defaultWidth(backbone));
        values.put("depth", BackboneSpec.defaultDepth(backbone));
        values.putAll(d.trainingDefaults());
        PretrainConfig seed = new PretrainConfig(
                d.name(),
                d.defaults(),
                BackboneSpec.SMALL_CONVNET,
                1,
                1,
                2,
                1,
                0,
                GradientOptimizer.NAMES.get(0),
                1f,
                0f,
                0f,
                0f,
                0f,
                0f,
                0f,
                0L,
                "auto",
                1,
                1,
                "per-device",
                "float32",
                null,
                0,
                1,
                1);
        return Records.with(seed, values, "the training settings");
    }

    /** The method's settings by key, as the API and provenance name them. */
    public Map<String, Object> methodSettings() {
        return Records.values(settings);
    }

    /** Steps per epoch for a dataset of {@code n} images (full batches only). */
    public int stepsPerEpoch(int n) {
        return Math.max(1, n / batchSize);
    }

    /** The run's length in steps for a dataset of {@code n} images. */
    public long totalSteps(int n) {
        return steps > 0 ? steps : (long) epochs * stepsPerEpoch(n);
    }

    /**
     * Record components that do not shape the trained weights, or are recorded elsewhere in the provenance (the
     * method, its settings record, the seed and the device have their own places).
     */
    private static final java.util.Set<String> NOT_TRAINING_SETTINGS = java.util.Set.of(
            "method",
            "settings",
            "seed",
            "device",
            "checkpoint_dir",
            "checkpoint_every_steps",
            "keep_checkpoints",
            "log_every_steps");

    /**
     * The training settings that shape the result, for provenance: every component of this record but those in
     * {@link #NOT_TRAINING_SETTINGS}, read from the record itself so that a new setting is recorded without a list
     * to keep.
     */
    public Map<String, Object> trainingSettings() {
        Map<String, Object> h = new LinkedHashMap<>(Records.values(this));
        h.keySet().removeAll(NOT_TRAINING_SETTINGS);
        return h;
    }

    /** A builder that starts from these settings. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /**
     * Changes some settings of a config: {@code defaults("simclr").toBuilder().epochs(5).build()}. Changing the
     * method starts from the new method's own settings; {@link #setting} changes one of them by key.
     */
    public static final class Builder {
        private final PretrainConfig base;
        private final Map<String, Object> changes = new LinkedHashMap<>();
        private final Map<String, Object> settingChanges = new LinkedHashMap<>();

        private Builder(PretrainConfig base) {
            this.base = base;
        }

        /** Changes a training setting by its key ({@code "learning_rate"}). */
        public Builder set(String key, Object value) {
            changes.put(key, value);
            return this;
        }

        /** Changes one of the method's settings by its key ({@code "temperature"}). */
        public Builder setting(String key, Object value) {
            settingChanges.put(key, value);
            return this;
        }

        public Builder method(String v) {
            return set("method", v);
        }

        /** Replaces the method's settings record. */
        public Builder settings(Record v) {
            return set("settings", v);
        }

        public Builder backbone(String v) {
            return set("backbone", v);
        }

        /** The backbone {@code type} at its default width and depth (one place: {@link BackboneSpec}). */
        public Builder backboneAtDefaults(String type) {
            return backbone(type).width(BackboneSpec.defaultWidth(type)).depth(BackboneSpec.defaultDepth(type));
        }

        public Builder width(int v) {
            return set("width", v);
        }

        public Builder depth(int v) {
            return set("depth", v);
        }

        public Builder workers(int v) {
            return set("workers", v);
        }

        public Builder batchSize(int v) {
            return set("batch_size", v);
        }

        public Builder epochs(int v) {
            return set("epochs", v);
        }

        public Builder steps(long v) {
            return set("steps", v);
        }

        public Builder optimizer(String v) {
            return set("optimizer", v);
        }

        public Builder learningRate(float v) {
            return set("learning_rate", v);
        }

        public Builder momentum(float v) {
            return set("momentum", v);
        }

        public Builder weightDecay(float v) {
            return set("weight_decay", v);
        }

        public Builder warmupEpochs(float v) {
            return set("warmup_epochs", v);
        }

        public Builder clipNorm(float v) {
            return set("clip_norm", v);
        }

        public Builder emaDecay(float v) {
            return set("ema_decay", v);
        }

        public Builder seed(long v) {
            return set("seed", v);
        }

        public Builder device(String v) {
            return set("device", v);
        }

        public Builder replicas(int v) {
            return set("replicas", v);
        }

        public Builder batchNorm(String v) {
            return set("batch_norm", v);
        }

        /** "float32" or "bfloat16". */
        public Builder precision(String v) {
            return set("precision", v);
        }

        public Builder checkpointDir(Path v) {
            return set("checkpoint_dir", v);
        }

        public Builder checkpointEverySteps(long v) {
            return set("checkpoint_every_steps", v);
        }

        public Builder keepCheckpoints(int v) {
            return set("keep_checkpoints", v);
        }

        public Builder logEverySteps(int v) {
            return set("log_every_steps", v);
        }

        /**
         * The changed config.
         *
         * @throws IllegalArgumentException naming the setting, for an unknown key or a value out of range
         */
        public PretrainConfig build() {
            Map<String, Object> all = new LinkedHashMap<>(changes);
            MethodDefinition<?> definition = Methods.get((String) all.getOrDefault("method", base.method()));
            Record settings = (Record) all.get("settings");
            if (settings == null) {
                settings = definition.name().equals(base.method()) ? base.settings() : definition.defaults();
            }
            all.put("settings", Records.with(definition.cast(settings), settingChanges, definition.name()));
            return Records.with(base, all, "the training settings");
        }
    }
}
