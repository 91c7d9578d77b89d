package dev.selfsup.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.FashionMnist;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.eval.EvaluationReport;
import dev.selfsup.core.eval.Evaluator;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.method.Colorization;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.numerics.CpuInfo;
import dev.selfsup.core.tokenizer.LocalTokenSource;
import dev.selfsup.core.tokenizer.TokenizerFile;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.train.Provenance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Pretrains on Fashion-MNIST, evaluates by kNN and linear probe against the raw-pixel and random-init baselines,
 * and prints one JSON object as its last line. Progress goes to stderr.
 */
@Command(
        name = "ssl-bench",
        mixinStandardHelpOptions = true,
        description = "Pretrain on Fashion-MNIST, evaluate, print one JSON line of numbers.")
public final class SslBench implements Callable<Integer> {
    /** The method names, from core's registry. */
    static final class MethodNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Methods.NAMES.iterator();
        }
    }

    @Option(
            names = "--method",
            description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})",
            defaultValue = "simclr",
            completionCandidates = MethodNames.class)
    String method;

    @Option(
            names = "--dataset",
            description = "a dataset folder (IDX, CIFAR binary or image folders with train/ and "
                    + "test/) instead of Fashion-MNIST")
    Path dataset;

    @Option(
            names = "--image-size",
            description = "image folders: side in pixels (default: ${DEFAULT-VALUE})",
            defaultValue = "32")
    int imageSize;

    @Option(names = "--channels", description = "image folders: 1 or 3 (default: ${DEFAULT-VALUE})", defaultValue = "3")
    int channels;

    @Option(names = "--permutations", description = "jigsaw: permutation set size")
    Integer permutations;

    @Option(names = "--clusters", description = "deepcluster: k")
    Integer clusters;

    @Option(names = "--pca-dim", description = "deepcluster: PCA dimension")
    Integer pcaDim;

    @Option(
            names = "--tokenizer-file",
            description = "beit: the tokenizer (a .tok file from tokenizer-bench) whose "
                    + "tokens are the targets, used in this process")
    Path tokenizerFile;

    @Option(names = "--mask-ratio", description = "beit: share of patches masked")
    Float maskRatio;

    @Option(
            names = "--colorize-png",
            description = "colorization: write a picture of test images (grayscale input, " + "prediction, truth) here")
    Path colorizePng;

    @Option(
            names = "--backbone",
            description =
                    "small-convnet, resnet18, resnet18-imagenet, resnet50, vit or vit-cls, at its default width and "
                            + "depth unless --width/--depth say otherwise (default: the method's)")
    String backbone;

    @Option(names = "--width", description = "backbone width")
    Integer width;

    @Option(names = "--depth", description = "conv layers per stage of the small ConvNet")
    Integer depth;

    @Option(names = "--batch-size")
    Integer batchSize;

    @Option(names = "--epochs")
    Integer epochs;

    @Option(names = "--steps", description = "run this many steps instead of whole epochs")
    Long steps;

    @Option(
            names = "--train-limit",
            description = "use only the first N training images (default: all)",
            defaultValue = "0")
    int trainLimit;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--optimizer")
    String optimizer;

    @Option(names = "--lr")
    Float lr;

    @Option(names = "--weight-decay")
    Float weightDecay;

    @Option(names = "--temperature")
    Float temperature;

    @Option(names = "--crop-scale-min")
    Float cropScaleMin;

    @Option(names = "--jitter")
    Float jitter;

    @Option(names = "--queue-size")
    Integer queueSize;

    @Option(names = "--key-momentum")
    Float keyMomentum;

    @Option(names = "--warmup-epochs")
    Float warmupEpochs;

    @Option(names = "--device", defaultValue = "auto")
    String device;

    @Option(
            names = "--data-dir",
            description = "folder with the Fashion-MNIST IDX files (default: ${DEFAULT-VALUE})",
            defaultValue = "/usr/share/datasets/fashion-mnist")
    Path dataDir;

    @Option(names = "--skip-eval", description = "measure training only")
    boolean skipEval;

    @Option(names = "--skip-baselines", description = "do not compute the raw-pixel and random-init baselines")
    boolean skipBaselines;

    @Option(names = "--rss-every", description = "print RSS every N steps to stderr (0: never)", defaultValue = "0")
    int rssEvery;

    @Option(names = "--export", description = "write the trained encoder bundle here")
    Path export;

    @Option(
            names = "--set",
            paramLabel = "KEY=VALUE",
            description = "a setting of the method by its key, e.g. "
                    + "--set temperature=0.5 (repeatable); each method's keys: ${sys:selfsup.method.settings}")
    Map<String, String> settings = new LinkedHashMap<>();

    @Option(
            names = "--train",
            paramLabel = "KEY=VALUE",
            description = "a training setting by key, e.g. ema_decay=0.999 or clip_norm=1 (repeatable)")
    Map<String, String> training = new LinkedHashMap<>();

    /** Sets one of the method's settings if the option was given. */
    private static void setting(PretrainConfig.Builder b, String key, Object value) {
        if (value != null) {
            b.setting(key, value);
        }
    }

    public static void main(String[] args) {
        System.setProperty(
                "selfsup.method.settings",
                Methods.ALL.stream().map(d -> d.name() + " " + d.settingKeys()).collect(Collectors.joining(", ")));
        System.exit(new CommandLine(new SslBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        ImageDataset trainAll = dataset == null
                ? FashionMnist.train(dataDir)
                : DatasetLoader.load(dataset, DatasetLoader.Format.AUTO, "train", channels, imageSize);
        ImageDataset test = dataset == null
                ? FashionMnist.test(dataDir)
                : DatasetLoader.load(dataset, DatasetLoader.Format.AUTO, "test", channels, imageSize);
        ImageDataset train = trainAll.head(trainLimit);
        PretrainConfig.Builder b =
                PretrainConfig.defaults(method).toBuilder().seed(seed).device(device);
        if (backbone != null) {
            b.backboneAtDefaults(backbone);
        }
        if (width != null) {
            b.width(width);
        }
        if (depth != null) {
            b.depth(depth);
        }
        if (batchSize != null) {
            b.batchSize(batchSize);
        }
        if (epochs != null) {
            b.epochs(epochs);
        }
        if (steps != null) {
            b.steps(steps);
        }
        if (optimizer != null) {
            b.optimizer(optimizer);
        }
        if (lr != null) {
            b.learningRate(lr);
        }
        if (weightDecay != null) {
            b.weightDecay(weightDecay);
        }
        setting(b, "temperature", temperature);
        setting(b, "crop_scale_min", cropScaleMin);
        setting(b, "jitter_strength", jitter);
        setting(b, "queue_size", queueSize);
        setting(b, "key_momentum", keyMomentum);
        if (warmupEpochs != null) {
            b.warmupEpochs(warmupEpochs);
        }
        setting(b, "jigsaw_permutations", permutations);
        setting(b, "clusters", clusters);
        setting(b, "pca_dim", pcaDim);
        setting(b, "mask_ratio", maskRatio);
        MethodResources resources = MethodResources.NONE;
        NDManager tokenizerManager = null;
        if (tokenizerFile != null) {
            tokenizerManager = NDManager.newBaseManager(Devices.choose(device));
            var loaded = TokenizerFile.read(tokenizerFile, tokenizerManager);
            var source = new LocalTokenSource(loaded.tokenizer(), tokenizerManager);
            resources = new MethodResources(name -> source);
            b.setting("tokenizer", loaded.header().name());
        }
        training.forEach(b::set);
        settings.forEach(b::setting);
        PretrainConfig config = b.build();
        float[][] stats = Pretrainer.channelStats(train);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("method", config.method());
        out.put(
                "backbone",
                new BackboneSpec(
                                config.backbone(),
                                config.width(),
                                config.depth(),
                                train.channels(),
                                train.height(),
                                stats[0],
                                stats[1])
                        .toString());
        out.put("batch_size", config.batchSize());
        List<Double> stepSeconds = new ArrayList<>();
        Map<String, Double> lastMethodMetrics = new LinkedHashMap<>();
        double[] waitTotal = new double[1];
        long t0;
        double trainSeconds;
        EvaluationReport report = null;
        EvaluationReport raw = null;
        EvaluationReport random = null;
        Map<String, Object> derived;
        dev.selfsup.core.engine.Precision precision = null;
        try (Pretrainer trainer = new Pretrainer(config, train.withoutLabels(), stats[0], stats[1], resources)) {
            derived = trainer.method().derivedValues();
            precision = trainer.precision();
            System.err.printf(
                    "training %s on %s, %d steps (%d per epoch) on %s%n",
                    config.method(), train, trainer.totalSteps(), trainer.stepsPerEpoch(), trainer.device());
            trainer.addListener(new PretrainListener() {
                @Override
                public void onStep(long step, double seconds, double wait, int images) {
                    stepSeconds.add(seconds);
                    waitTotal[0] += wait;
                    if (rssEvery > 0 && step % rssEvery == 0) {
                        System.err.printf("rss step=%d bytes=%d%n", step, ProcessMemory.rssBytes());
                    }
                }

                @Override
                public void onProgress(Progress p) {
                    System.err.printf(
                            "step %d/%d epoch %.2f loss %.4f lr %.4f %.0f img/s eta %.0fs %s%n",
                            p.step(),
                            p.totalSteps(),
                            p.epoch(),
                            p.loss(),
                            p.learningRate(),
                            p.imagesPerSecond(),
                            p.etaSeconds(),
                            p.methodMetrics().isEmpty() ? "" : p.methodMetrics());
                    if (!p.methodMetrics().isEmpty()) {
                        lastMethodMetrics.clear();
                        lastMethodMetrics.putAll(p.methodMetrics());
                    }
                }
            });
            t0 = System.nanoTime();
            PretrainResult result = trainer.run();
            trainSeconds = (System.nanoTime() - t0) / 1e9;
            out.put("status", result.status().toString());
            out.put("final_loss", result.finalLoss());
            if (export != null) {
                trainer.exportEncoder(export);
            }
            if (colorizePng != null && trainer.method() instanceof Colorization col) {
                ColorizationPicture.write(col, trainer.manager(), test, 10, colorizePng);
                System.err.println("wrote " + colorizePng);
            }
            if (!skipEval) {
                long e0 = System.nanoTime();
                Evaluator evaluator = new Evaluator();
                report = evaluator.evaluate(trainer.evaluationEncoder(), trainAll, test, trainer.manager());
                System.err.printf(
                        "evaluated in %.1f s: knn %.4f linear %.4f%n",
                        (System.nanoTime() - e0) / 1e9, report.knnAccuracy(), report.linearAccuracy());
                if (!skipBaselines) {
                    raw = evaluator.evaluateRawPixels(trainAll, test, trainer.manager());
                    try (NDManager m = trainer.manager().newSubManager()) {
                        Block randomEncoder = Backbones.build(trainer.method().backboneSpec());
                        Engine.getInstance().setRandomSeed((int) seed);
                        randomEncoder.initialize(
                                m, DataType.FLOAT32, new Shape(1, train.channels(), train.height(), train.width()));
                        random = evaluator.evaluate(randomEncoder, trainAll, test, m);
                    }
                }
            }
        }
        int warm = Math.min(10, stepSeconds.size() / 5);
        double[] sorted = stepSeconds.subList(warm, stepSeconds.size()).stream()
                .mapToDouble(Double::doubleValue)
                .sorted()
                .toArray();
        double median = sorted.length == 0 ? Double.NaN : sorted[sorted.length / 2];
        double epochsDone = (double) stepSeconds.size() * config.batchSize() / train.size();
        out.put("epochs", Math.round(epochsDone * 100) / 100.0);
        out.put("steps", stepSeconds.size());
        out.put("train_images", train.size());
        out.put("images_per_second", round(config.batchSize() / median, 1));
        out.put("median_step_seconds", round(median, 4));
        out.put("seconds_per_epoch", round(trainSeconds / Math.max(1e-9, epochsDone), 1));
        out.put("train_seconds", round(trainSeconds, 1));
        out.put("data_wait_fraction", round(waitTotal[0] / Math.max(1e-9, trainSeconds), 4));
        out.put("peak_rss_bytes", ProcessMemory.peakRssBytes());
        out.put("knn_accuracy", report == null ? null : round(report.knnAccuracy(), 4));
        out.put("linear_accuracy", report == null ? null : round(report.linearAccuracy(), 4));
        out.put("raw_pixels_knn_accuracy", raw == null ? null : round(raw.knnAccuracy(), 4));
        out.put("raw_pixels_linear_accuracy", raw == null ? null : round(raw.linearAccuracy(), 4));
        out.put("random_init_knn_accuracy", random == null ? null : round(random.knnAccuracy(), 4));
        out.put("random_init_linear_accuracy", random == null ? null : round(random.linearAccuracy(), 4));
        out.put("method_metrics", lastMethodMetrics);
        if (tokenizerManager != null) {
            tokenizerManager.close();
        }
        out.put("dataset", trainAll.name());
        out.put("seed", seed);
        out.put("cpu", CpuInfo.current().describe());
        out.put("isa", dev.selfsup.core.numerics.CpuIsaGuard.apply().describe());
        out.put("precision", precision == null ? null : precision.used());
        if (precision != null && precision.reason() != null) {
            out.put("precision_refused", precision.reason());
        }
        out.put("config", Provenance.hyperparameters(config.trainingSettings(), config.methodSettings(), derived));
        System.out.println(Json.write(out));
        return 0;
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
