package dev.selfsup.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.core.data.FashionMnist;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.eval.EvaluationReport;
import dev.selfsup.core.eval.Evaluator;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.method.MethodResources;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.method.UnsuitableDataException;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.numerics.CpuInfo;
import dev.selfsup.core.tokenizer.LocalTokenSource;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.core.tokenizer.TokenizerTrainer;
import dev.selfsup.core.tokenizer.VisualTokenizer;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.train.Provenance;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Learning curves for a fixed wall time: trains one method on Fashion-MNIST for a budget of minutes, takes the kNN
 * accuracy at equal intervals of training time (the evaluation's own time is not counted) and both kNN and the linear
 * probe at the end, and appends one JSON line per point to {@code curves.jsonl}. The run's length in steps is set
 * from a short timed calibration so that the learning-rate schedule ends with the budget, as a user sizing a run to
 * the time they have would do. {@code --baselines} adds the raw-pixel and random-init lines; {@code --report} draws
 * the pictures and the table from the file ({@link CurveReport}).
 */
@Command(
        name = "ssl-curves",
        mixinStandardHelpOptions = true,
        description = "Train one method for a fixed wall time, evaluate kNN along the way, append JSON lines.")
public final class SslCurves implements Callable<Integer> {
    /** What this invocation does: one method's curve, the baselines, or the report. */
    static final class Mode {
        @Option(names = "--method", description = "train this method and record its curve")
        String method;

        @Option(names = "--baselines", description = "record the raw-pixel and random-init baselines")
        boolean baselines;

        @Option(names = "--report", description = "draw curves-time.png, curves-images.png and table.md")
        boolean report;

        @Option(names = "--list-methods", description = "print the registered methods, comma-separated")
        boolean listMethods;
    }

    @ArgGroup(multiplicity = "1")
    Mode mode;

    @Option(
            names = "--out",
            description = "folder of curves.jsonl and the report (default: ${DEFAULT-VALUE})",
            defaultValue = "bench/curves")
    Path out;

    @Option(names = "--minutes", description = "training wall time (default: ${DEFAULT-VALUE})", defaultValue = "15")
    double minutes;

    @Option(
            names = "--knn-points",
            description = "kNN evaluations spread over the budget, the last at the end (default: ${DEFAULT-VALUE})",
            defaultValue = "5")
    int knnPoints;

    @Option(
            names = "--calibration-seconds",
            description = "time the step for this long before the run (default: ${DEFAULT-VALUE})",
            defaultValue = "25")
    double calibrationSeconds;

    @Option(names = "--label", description = "the row's name in the table (default: the method)")
    String label;

    @Option(names = "--backbone")
    String backbone;

    @Option(names = "--width")
    Integer width;

    @Option(names = "--depth", description = "conv layers per stage of the small ConvNet")
    Integer depth;

    @Option(names = "--batch-size")
    Integer batchSize;

    @Option(names = "--lr")
    Float lr;

    @Option(names = "--warmup-epochs")
    Float warmupEpochs;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--device", defaultValue = "auto")
    String device;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "a method setting by key (repeatable)")
    Map<String, String> settings = new LinkedHashMap<>();

    @Option(
            names = "--train",
            paramLabel = "KEY=VALUE",
            description = "a training setting by key, e.g. ema_decay=0.999 or clip_norm=1 (repeatable)")
    Map<String, String> training = new LinkedHashMap<>();

    @Option(
            names = "--data-dir",
            description = "Fashion-MNIST IDX files (default: ${DEFAULT-VALUE})",
            defaultValue = "/usr/share/datasets/fashion-mnist")
    Path dataDir;

    public static void main(String[] args) {
        System.exit(new CommandLine(new SslCurves()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (mode.listMethods) {
            System.out.println(String.join(",", Methods.NAMES));
            return 0;
        }
        Files.createDirectories(out);
        Path lines = out.resolve("curves.jsonl");
        if (mode.report) {
            CurveReport.write(lines, out);
            return 0;
        }
        ImageDataset train = FashionMnist.train(dataDir);
        ImageDataset test = FashionMnist.test(dataDir);
        if (mode.baselines) {
            baselines(train, test, lines);
        } else {
            curve(train, test, lines);
        }
        return 0;
    }

    private void baselines(ImageDataset train, ImageDataset test, Path lines) throws IOException {
        Evaluator evaluator = new Evaluator();
        float[][] stats = Pretrainer.channelStats(train);
        try (NDManager m = NDManager.newBaseManager(Devices.choose(device))) {
            EvaluationReport raw = evaluator.evaluateRawPixels(train, test, m);
            append(lines, baseline("raw pixels", raw));
            BackboneSpec spec = new BackboneSpec(
                    BackboneSpec.SMALL_CONVNET,
                    BackboneSpec.defaultWidth(BackboneSpec.SMALL_CONVNET),
                    BackboneSpec.defaultDepth(BackboneSpec.SMALL_CONVNET),
                    train.channels(),
                    train.height(),
                    stats[0],
                    stats[1]);
            Block random = Backbones.build(spec);
            Engine.getInstance().setRandomSeed((int) seed);
            random.initialize(m, DataType.FLOAT32, new Shape(1, train.channels(), train.height(), train.width()));
            append(lines, baseline("random-init small ConvNet", evaluator.evaluate(random, train, test, m)));
        }
    }

    private static Map<String, Object> baseline(String name, EvaluationReport r) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("kind", "baseline");
        o.put("name", name);
        o.put("knn", round(r.knnAccuracy(), 4));
        o.put("linear", round(r.linearAccuracy(), 4));
        o.put("cpu", CpuInfo.current().describe());
        System.err.println(Json.write(o));
        return o;
    }

    private PretrainConfig config(long steps) {
        PretrainConfig.Builder b =
                PretrainConfig.defaults(mode.method).toBuilder().seed(seed).device(device);
        if (backbone != null) {
            b.backboneAtDefaults(backbone);
        }
        if (depth != null) {
            b.depth(depth);
        }
        if (width != null) {
            b.width(width);
        }
        if (batchSize != null) {
            b.batchSize(batchSize);
        }
        if (lr != null) {
            b.learningRate(lr);
        }
        if (warmupEpochs != null) {
            b.warmupEpochs(warmupEpochs);
        }
        training.forEach(b::set);
        settings.forEach(b::setting);
        return b.steps(steps).checkpointEverySteps(0).build();
    }

    private void curve(ImageDataset train, ImageDataset test, Path lines) throws Exception {
        String name = label == null ? Methods.canonical(mode.method) : label;
        double budget = minutes * 60;
        float[][] stats = Pretrainer.channelStats(train);
        ImageDataset unlabeled = train.withoutLabels();
        long wall0 = System.nanoTime();
        try (NDManager tokens = NDManager.newBaseManager(Devices.choose(device))) {
            MethodResources resources = MethodResources.NONE;
            String method = Methods.canonical(mode.method);
            if ("beit".equals(method)) {
                // BEiT's targets: a k-means tokenizer over 4x4 patches, trained here; its time counts in the budget.
                TokenizerSpec spec = new TokenizerSpec(
                        TokenizerSpec.KMEANS_PATCHES, 512, 4, train.height(), train.channels(), 32, 128);
                VisualTokenizer t = TokenizerTrainer.train(
                        spec,
                        new TokenizerTrainer.Config(2000, 128, 0.002f, 0.25f, 0.99f, 1f, seed, device, 100),
                        unlabeled,
                        tokens,
                        p -> {},
                        () -> false);
                var source = new LocalTokenSource(t, tokens);
                resources = new MethodResources(n -> source);
                settings.put("tokenizer", "curves");
            }
            double prepared = (System.nanoTime() - wall0) / 1e9;
            Calibration cal;
            try {
                cal = calibrate(unlabeled, stats, resources);
            } catch (UnsuitableDataException e) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("kind", "skipped");
                o.put("method", method);
                o.put("label", name);
                o.put("reason", e.getMessage());
                append(lines, o);
                System.err.println("skipped: " + e.getMessage());
                return;
            }
            double left = Math.max(1, budget - prepared);
            long steps = Math.max(1, cal.steps(left));
            PretrainConfig config = config(steps);
            System.err.printf(
                    "%s: %.3f s/step, %.1f s per epoch's preparation, %d steps of %d for %.0f s%n",
                    name, cal.stepSeconds, cal.epochPrepSeconds, steps, config.batchSize(), left);
            run(name, config, train, test, unlabeled, stats, resources, budget, prepared, cal, lines);
        }
    }

    /** The measured cost of a step and of an epoch's preparation (DeepCluster's clustering). */
    record Calibration(double stepSeconds, double epochPrepSeconds, int stepsPerEpoch) {
        /** The steps that fill {@code seconds}, whole epochs' preparations included. */
        long steps(double seconds) {
            double perEpoch = stepsPerEpoch * stepSeconds + epochPrepSeconds;
            double epochs = seconds / perEpoch;
            return (long) Math.floor(epochs * stepsPerEpoch);
        }
    }

    private Calibration calibrate(ImageDataset unlabeled, float[][] stats, MethodResources resources)
            throws IOException {
        PretrainConfig config = config(100_000);
        List<Double> steps = new ArrayList<>();
        long[] startedAt = new long[1];
        double[] firstStepEnd = new double[1];
        try (Pretrainer p = new Pretrainer(config, unlabeled, stats[0], stats[1], resources)) {
            long t0 = System.nanoTime();
            p.addListener(new PretrainListener() {
                @Override
                public void onStart(long step, long totalSteps) {
                    startedAt[0] = System.nanoTime();
                }

                @Override
                public void onStep(long step, double seconds, double wait, int images) {
                    steps.add(seconds);
                    if (step == 1) {
                        firstStepEnd[0] = (System.nanoTime() - startedAt[0]) / 1e9 - seconds;
                    }
                    if ((System.nanoTime() - t0) / 1e9 > calibrationSeconds && steps.size() >= 8) {
                        p.cancel();
                    }
                }
            });
            p.run();
            // The first steps warm the allocator and oneDNN's kernel cache: the median of the rest.
            double[] sorted = steps.subList(Math.min(3, steps.size() - 1), steps.size()).stream()
                    .mapToDouble(Double::doubleValue)
                    .sorted()
                    .toArray();
            return new Calibration(sorted[sorted.length / 2], Math.max(0, firstStepEnd[0]), p.stepsPerEpoch());
        }
    }

    private void run(
            String name,
            PretrainConfig config,
            ImageDataset train,
            ImageDataset test,
            ImageDataset unlabeled,
            float[][] stats,
            MethodResources resources,
            double budget,
            double prepared,
            Calibration cal,
            Path lines)
            throws Exception {
        Evaluator evaluator = new Evaluator();
        String cpu = CpuInfo.current().describe();
        try (Pretrainer trainer = new Pretrainer(config, unlabeled, stats[0], stats[1], resources)) {
            String backboneName = trainer.method().backboneSpec().toString();
            Map<String, Object> derived = trainer.method().derivedValues();
            long[] evalNanos = new long[1];
            long start = System.nanoTime();
            double interval = (budget - prepared) / Math.max(1, knnPoints);
            double[] next = {interval};
            List<Map<String, Object>> points = new ArrayList<>();
            java.util.function.DoubleSupplier trained =
                    () -> prepared + (System.nanoTime() - start - evalNanos[0]) / 1e9;
            trainer.addListener(new PretrainListener() {
                @Override
                public void onStep(long step, double seconds, double wait, int images) {
                    double t = trained.getAsDouble() - prepared;
                    // Points inside the run; the last one is taken after it, with the linear probe.
                    if (t >= next[0] && next[0] < (budget - prepared) - interval / 2 && step < trainer.totalSteps()) {
                        next[0] += interval;
                        long e0 = System.nanoTime();
                        double knn = evaluator.knnAccuracy(trainer.evaluationEncoder(), train, test, trainer.manager());
                        evalNanos[0] += System.nanoTime() - e0;
                        Map<String, Object> o = point(name, config, backboneName, trained.getAsDouble(), step, knn);
                        o.put("linear", null);
                        o.put("cpu", cpu);
                        points.add(o);
                        appendQuietly(lines, o);
                    }
                    if (t > 1.25 * (budget - prepared)) {
                        // A calibration that was far off (a machine that got busier) must not run on for hours.
                        trainer.cancel();
                    }
                }

                @Override
                public void onProgress(Progress p) {
                    System.err.printf(
                            "%s step %d/%d epoch %.2f loss %.4f %.0f img/s%n",
                            name, p.step(), p.totalSteps(), p.epoch(), p.loss(), p.imagesPerSecond());
                }
            });
            PretrainResult result = trainer.run();
            double trainSeconds = trained.getAsDouble();
            EvaluationReport end = evaluator.evaluate(trainer.evaluationEncoder(), train, test, trainer.manager());
            Map<String, Object> last =
                    point(name, config, backboneName, trainSeconds, result.steps(), end.knnAccuracy());
            last.put("linear", round(end.linearAccuracy(), 4));
            last.put("cpu", cpu);
            append(lines, last);
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("kind", "run");
            o.put("method", config.method());
            o.put("label", name);
            o.put("backbone", backboneName);
            o.put("batch_size", config.batchSize());
            o.put("status", result.status().toString());
            o.put("steps", result.steps());
            o.put("epochs", round((double) result.steps() / trainer.stepsPerEpoch(), 2));
            o.put("budget_seconds", round(budget, 0));
            o.put("train_seconds", round(trainSeconds, 1));
            o.put("preparation_seconds", round(prepared, 1));
            o.put("eval_seconds_excluded", round(evalNanos[0] / 1e9, 1));
            o.put("images_per_second", round(result.steps() * (double) config.batchSize() / trainSeconds, 1));
            o.put("calibrated_step_seconds", round(cal.stepSeconds, 4));
            o.put("calibrated_epoch_preparation_seconds", round(cal.epochPrepSeconds, 2));
            o.put("final_loss", round(result.finalLoss(), 4));
            o.put("knn", round(end.knnAccuracy(), 4));
            o.put("linear", round(end.linearAccuracy(), 4));
            o.put("peak_rss_bytes", ProcessMemory.peakRssBytes());
            o.put("cpu", cpu);
            o.put("config", Provenance.hyperparameters(config.trainingSettings(), config.methodSettings(), derived));
            append(lines, o);
            System.out.println(Json.write(o));
        }
    }

    private static Map<String, Object> point(
            String name, PretrainConfig config, String backbone, double seconds, long step, double knn) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("kind", "point");
        o.put("method", config.method());
        o.put("label", name);
        o.put("backbone", backbone);
        o.put("batch_size", config.batchSize());
        o.put("seconds", round(seconds, 1));
        o.put("steps", step);
        o.put("images_seen", step * config.batchSize());
        o.put("knn", round(knn, 4));
        System.err.printf("%s at %.0f s, %d steps: kNN %.4f%n", name, seconds, step, knn);
        return o;
    }

    private static void appendQuietly(Path file, Map<String, Object> line) {
        try {
            append(file, line);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void append(Path file, Map<String, Object> line) throws IOException {
        Files.writeString(
                file,
                Json.write(line) + "\n",
                StandardCharsets.UTF_8,
                StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }

    static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
