package dev.selfsup.core.tokenizer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.data.BatchLoader;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.optim.GradientOptimizer;
import dev.selfsup.core.optim.LearningRateSchedule;
import java.util.SplittableRandom;
import java.util.function.BooleanSupplier;

/**
 * Trains a {@link VqTokenizer}: reconstruction MSE plus β times the commitment loss, AdamW with warm-up and a
 * cosine schedule, EMA codebook updates, k-means initialisation on the first batch, dead-code re-seeding. A
 * k-means patch tokenizer is fitted instead when the spec asks for one.
 */
public final class TokenizerTrainer {
    /**
     * How to train.
     *
     * @param steps optimizer steps
     * @param batchSize images per step
     * @param learningRate peak AdamW learning rate
     * @param commitment β of the commitment loss (0.25 in VQ-VAE)
     * @param emaDecay γ of the codebook's moving averages
     * @param deadThreshold EMA count under which a code is re-seeded
     * @param seed data order, initialisation and re-seeding follow from it
     * @param device "auto", "cpu" or "gpu"
     * @param logEverySteps steps between progress reports
     */
    public record Config(
            long steps,
            int batchSize,
            float learningRate,
            float commitment,
            float emaDecay,
            float deadThreshold,
            long seed,
            String device,
            int logEverySteps) {
        public Config {
            if (steps < 1 || batchSize < 1 || learningRate <= 0 || commitment < 0 || logEverySteps < 1) {
                throw new IllegalArgumentException(
                        "steps, batch_size, learning_rate and log interval must be positive");
            }
        }

        /** Settings measured to work on Fashion-MNIST (docs/beit.md). */
        public static Config defaults() {
            return new Config(2000, 128, 2e-3f, 0.25f, 0.99f, 1f, 42, "auto", 50);
        }
    }

    /**
     * A progress report.
     *
     * @param usage fraction of the vocabulary used by this step's batch
     * @param perplexity of this step's batch's tokens
     * @param reseeded dead codes re-seeded since the last report
     */
    public record Progress(
            long step,
            long totalSteps,
            double loss,
            double mse,
            double usage,
            double perplexity,
            int reseeded,
            double imagesPerSecond) {}

    /** Observes training. */
    public interface Listener {
        void onProgress(Progress p);
    }

    private TokenizerTrainer() {}

    /**
     * Trains (or, for the k-means kind, fits) a tokenizer on {@code train}.
     *
     * @param cancelled polled between steps; training stops early when it turns true
     */
    public static VisualTokenizer train(
            TokenizerSpec spec,
            Config c,
            ImageDataset train,
            NDManager manager,
            Listener listener,
            BooleanSupplier cancelled) {
        GradMode.disableOnThisThread();
        if (train.height() != spec.imageSize()
                || train.width() != spec.imageSize()
                || train.channels() != spec.channels()) {
            throw new IllegalArgumentException("dataset: images are " + train.channels() + "x" + train.height() + "x"
                    + train.width() + ", the tokenizer reads " + spec.channels() + "x" + spec.imageSize() + "x"
                    + spec.imageSize());
        }
        if (TokenizerSpec.KMEANS_PATCHES.equals(spec.kind())) {
            return PatchKMeansTokenizer.fit(spec, train, 10_000, 20, c.seed(), manager);
        }
        Engine.getInstance().setRandomSeed((int) c.seed());
        VqTokenizer t = new VqTokenizer(spec, manager, c.emaDecay(), c.deadThreshold());
        GradientOptimizer opt = GradientOptimizer.create("adamw", 0.9f, 1e-4f, 0f);
        opt.init(t.trainable().getParameters(), manager);
        LearningRateSchedule lr = new LearningRateSchedule(
                c.learningRate(), Math.min(100, c.steps() / 10), c.steps(), c.learningRate() * 0.05f);
        SplittableRandom rng = new SplittableRandom(c.seed());
        ParameterStore ps = new ParameterStore(manager, false);
        int batch = Math.min(c.batchSize(), train.size());
        long t0 = System.nanoTime();
        int reseeded = 0;
        try (BatchLoader loader = new BatchLoader(train, batch, c.seed(), 0)) {
            for (long step = 0; step < c.steps() && !cancelled.getAsBoolean(); step++) {
                try (NDManager sm = manager.newSubManager();
                        NDScope scope = new NDScope()) {
                    NDArray x = loader.next(sm, manager.getDevice());
                    if (!t.quantizer().isInitialised()) {
                        t.quantizer().initialiseFrom(t.encode(ps, x, false), c.seed());
                    }
                    NDArray z;
                    NDArray ids;
                    NDArray loss;
                    NDArray mse;
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        z = t.encode(ps, x, true);
                        ids = t.quantizer().nearest(z.stopGradient());
                        NDArray q = t.quantizer().lookup(ids);
                        // Straight-through: the decoder sees the codes, the gradient flows to z unchanged.
                        NDArray zq = z.add(q.sub(z).stopGradient());
                        NDArray recon = t.decodeVectors(ps, zq, x.getShape().get(0), true);
                        mse = recon.sub(x).square().mean();
                        loss = mse.add(Scalars.mul(z.sub(q).square().mean(), c.commitment()));
                        gc.backward(loss);
                    }
                    GradMode.disableOnThisThread();
                    opt.step(lr.at(step));
                    reseeded += t.quantizer().update(z.stopGradient(), ids, rng);
                    if ((step + 1) % c.logEverySteps() == 0 || step + 1 == c.steps()) {
                        long[] counts = new long[spec.vocabularySize()];
                        for (long id : ids.toLongArray()) {
                            counts[(int) id]++;
                        }
                        TokenizerQuality q = TokenizerQuality.of(counts, mse.getFloat(), batch);
                        double seconds = (System.nanoTime() - t0) / 1e9;
                        listener.onProgress(new Progress(
                                step + 1,
                                c.steps(),
                                loss.getFloat(),
                                q.mse(),
                                q.usage(),
                                q.perplexity(),
                                reseeded,
                                (step + 1) * batch / Math.max(1e-9, seconds)));
                        reseeded = 0;
                    }
                }
            }
        }
        return t;
    }

    /** The device a config asks for. */
    public static ai.djl.Device device(Config c) {
        return Devices.choose(c.device());
    }
}
