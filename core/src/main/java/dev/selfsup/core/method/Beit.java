package dev.selfsup.core.method;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.initializer.NormalInitializer;
import dev.selfsup.core.augment.RandomResizedCrop;
import dev.selfsup.core.config.Records;
import dev.selfsup.core.data.BatchLoader;
import dev.selfsup.core.data.EpochSampler;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.EngineThreads;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.VisionTransformer;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.core.tokenizer.VisualTokenSource;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * BEiT (Bao et al. 2022): masked image modelling on visual tokens. A ViT sees a view of each image with about 40%
 * of its patches, in blocks ({@link BlockwiseMasking}), replaced by a mask token, and a linear head predicts, for
 * every masked patch, the token that the tokenizer gives the same view there. Cross entropy over masked patches
 * only.
 *
 * <p>The targets come from a {@link VisualTokenSource} (the tokenizer-service, over the network) ahead of time: a
 * prefetch thread prepares step {@code s + 1} and {@code s + 2} (their images, view, masks and tokens) while step
 * {@code s} computes. It can, because everything about a step is a pure function of (seed, step): the images (the
 * seeded epoch order, served by {@link #sampler()}), the crop and flip, and the masks. The view is cut once, on the
 * prefetch thread, and both the tokenizer and the ViT get exactly those pixels, so token (i, j) describes the patch
 * the ViT sees at (i, j).
 */
public final class Beit extends EncoderMethod {
    /** BEiT, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "beit",
                    "masked image modelling: a ViT predicts the visual tokens of masked patches (Bao et al. 2022)",
                    new Settings("", 0.4f, 0.2f),
                    (s, c) -> new Beit(
                            c.spec(),
                            c.resources().tokenSource(s.tokenizer()),
                            s.maskRatio(),
                            s.cropScaleMin(),
                            c.seed(),
                            c.batchSize()))
            // A small ViT (width 128, 4 layers, 4x4 patches on 28 px) with BEiT's optimizer settings: AdamW, weight
            // decay 0.05, gradient clipping at 1; the learning rate is scaled down from BEiT's 1.5e-3 at batch 2048.
            .withTrainingDefaults(Map.of(
                    "backbone", BackboneSpec.VIT, "learning_rate", 0.001f, "weight_decay", 0.05f, "clip_norm", 1f))
            .withCheck((s, spec, data) -> {
                Records.require(spec.isVit(), "backbone", "BEiT pretrains a ViT (vit or vit-cls), not " + spec.type());
                Records.require(!s.tokenizer().isBlank(), "tokenizer", "BEiT needs the name of a visual tokenizer");
            })
            .withResourcesCheck((s, spec, data, resources) -> checkTokenizer(s.tokenizer(), spec, data, resources));

    /** The tokenizer exists and cuts the images into the ViT's grid. */
    private static void checkTokenizer(String name, BackboneSpec vit, ImageDataset d, MethodResources resources) {
        TokenizerSpec t;
        try (VisualTokenSource source = resources.tokenSource(name)) {
            t = source.spec();
        }
        int grid = d.height() / vit.vitPatchSize();
        if (t.gridSize() != grid || t.imageSize() != d.height() || t.channels() != d.channels()) {
            throw new UnsuitableDataException("the tokenizer's grid does not match the ViT's: tokenizer '" + name
                    + "' reads " + t.channels() + "x" + t.imageSize() + " px images as a " + t.gridSize() + "x"
                    + t.gridSize() + " grid; the ViT cuts this dataset's " + d.channels() + "x" + d.height()
                    + " px images into " + grid + "x" + grid + " patches of " + vit.vitPatchSize() + " px");
        }
    }

    /**
     * BEiT's settings.
     *
     * @param tokenizer the name of the visual tokenizer whose tokens are the targets
     * @param maskRatio the share of patches masked, in blocks
     * @param cropScaleMin smallest area fraction of the random resized crop
     */
    public record Settings(String tokenizer, float maskRatio, float cropScaleMin) {
        public Settings {
            tokenizer = tokenizer == null ? "" : tokenizer;
            Records.require(maskRatio > 0 && maskRatio < 1, "mask_ratio", "must be in (0, 1), got " + maskRatio);
            SettingChecks.requireCropScale(cropScaleMin);
        }
    }

    private static final int PREFETCH_STEPS = 2;

    private final VisualTokenSource tokens;
    private final double maskRatio;
    private final double cropScaleMin;
    private final long seed;
    private final int batchSize;
    private final VisionTransformer vit;
    private final Block head;
    private final BlockwiseMasking masking;
    private final RandomResizedCrop crop;
    private final Map<Long, Future<Prepared>> pending = new ConcurrentHashMap<>();
    private ExecutorService prefetcher;
    private NDManager hostManager;
    private ImageDataset data;
    private long waitNanos;
    private long lastReportNanos = System.nanoTime();
    private double maskedShare;

    /** One step's inputs, prepared ahead: which images, their view as bytes, masks and target tokens. */
    private record Prepared(long step, int[] indices, byte[] view, float[] mask, long[] tokens) {}

    public Beit(
            BackboneSpec spec,
            VisualTokenSource tokens,
            double maskRatio,
            double cropScaleMin,
            long seed,
            int batchSize) {
        super("beit", spec, new VisionTransformer(checkVit(spec)));
        this.tokens = tokens;
        this.maskRatio = maskRatio;
        this.cropScaleMin = cropScaleMin;
        this.seed = seed;
        this.batchSize = batchSize;
        this.vit = (VisionTransformer) encoder;
        TokenizerSpec t = tokens.spec();
        if (t.gridSize() != vit.gridSize() || t.imageSize() != spec.imageSize() || t.channels() != spec.channels()) {
            throw new UnsuitableDataException("the tokenizer's grid does not match the ViT's: the tokenizer reads "
                    + t.channels() + "x" + t.imageSize() + " px images as a " + t.gridSize() + "x" + t.gridSize()
                    + " grid, the ViT " + spec.channels() + "x" + spec.imageSize() + " px as " + vit.gridSize() + "x"
                    + vit.gridSize() + " patches of " + vit.patchSize() + " px");
        }
        this.head = Linear.builder().setUnits(t.vocabularySize()).build();
        head.setInitializer(new NormalInitializer(0.02f), Parameter.Type.WEIGHT);
        model.add(vit).add(head);
        this.masking = new BlockwiseMasking(vit.gridSize(), maskRatio);
        this.crop = new RandomResizedCrop(spec.imageSize(), cropScaleMin, 1.0);
    }

    private static BackboneSpec checkVit(BackboneSpec spec) {
        if (!spec.isVit()) {
            throw new IllegalArgumentException("backbone: BEiT pretrains a ViT, not " + spec.type());
        }
        return spec;
    }

    @Override
    public void prepare(ImageDataset d, NDManager manager) {
        if (d.size() < batchSize) {
            throw new IllegalArgumentException("batch_size: larger than the dataset");
        }
        this.data = d;
        this.hostManager = NDManager.newBaseManager(Device.cpu());
        this.prefetcher = Executors.newSingleThreadExecutor(EngineThreads.factory("beit-token-prefetch"));
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        vit.initialize(manager, DataType.FLOAT32, new Shape(2).addAll(imageShape));
        head.initialize(manager, DataType.FLOAT32, new Shape(2, (long) vit.gridSize() * vit.gridSize(), vit.dim()));
    }

    @Override
    public EpochSampler sampler() {
        return epoch -> BatchLoader.permutation(data.size(), seed, epoch); // the order prefetching assumes
    }

    private int[] indicesOf(long step) {
        int perEpoch = data.size() / batchSize;
        int[] perm = BatchLoader.permutation(data.size(), seed, step / perEpoch);
        int from = (int) (step % perEpoch) * batchSize;
        return Arrays.copyOfRange(perm, from, from + batchSize);
    }

    /** Cuts the view, draws the masks and asks for the tokens of step {@code step}. Runs on the prefetch thread. */
    private Prepared prepareStep(long step) throws Exception {
        int[] idx = indicesOf(step);
        Random rng = StepContext.random(seed, step);
        int b = idx.length;
        int s = spec.imageSize();
        float[] tops = new float[b];
        float[] lefts = new float[b];
        float[] hs = new float[b];
        float[] ws = new float[b];
        float[] flips = new float[b];
        for (int i = 0; i < b; i++) {
            RandomResizedCrop.Box box = crop.sample(s, s, rng);
            tops[i] = (float) box.top();
            lefts[i] = (float) box.left();
            hs[i] = (float) box.height();
            ws[i] = (float) box.width();
            flips[i] = rng.nextBoolean() ? 1f : 0f;
        }
        int n = vit.gridSize() * vit.gridSize();
        float[] mask = new float[b * n];
        for (int i = 0; i < b; i++) {
            boolean[] m = masking.sample(rng);
            for (int j = 0; j < n; j++) {
                mask[i * n + j] = m[j] ? 1f : 0f;
            }
        }
        byte[] view;
        try (NDManager m = hostManager.newSubManager()) {
            ByteBuffer buf = ByteBuffer.allocateDirect(b * data.imageBytes());
            data.copyImages(idx, 0, b, buf);
            buf.flip();
            NDArray x = Scalars.divi(
                    m.create(buf, new Shape(b, data.channels(), s, s), DataType.UINT8)
                            .toType(DataType.FLOAT32, false),
                    255f);
            NDArray v = RandomResizedCrop.crop(x, tops, lefts, hs, ws, s, s);
            NDArray f = m.create(flips, new Shape(b, 1, 1, 1));
            v = v.add(v.flip(3).sub(v).mul(f));
            view = Scalars.mul(v, 255f)
                    .round()
                    .clip(0f, 255f)
                    .toType(DataType.UINT8, false)
                    .toByteArray();
        }
        return new Prepared(step, idx, view, mask, tokens.tokenize(view, b));
    }

    private Future<Prepared> request(long step) {
        return pending.computeIfAbsent(step, st -> prefetcher.submit(() -> prepareStep(st)));
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        long step = ctx.step();
        Future<Prepared> mine = request(step);
        for (long ahead = 1; ahead <= PREFETCH_STEPS; ahead++) {
            request(step + ahead);
        }
        long t0 = System.nanoTime();
        Prepared p;
        try {
            p = mine.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for BEiT's target tokens", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(
                    "cannot get BEiT's target tokens: " + e.getCause().getMessage(), e.getCause());
        } finally {
            pending.remove(step);
        }
        waitNanos += System.nanoTime() - t0;
        if (!Arrays.equals(p.indices(), ctx.indices())) {
            throw new IllegalStateException("BEiT prepared other images for step " + step + " than the loader served");
        }
        NDManager m = images.getManager();
        int b = p.indices().length;
        int s = spec.imageSize();
        int n = vit.gridSize() * vit.gridSize();
        ByteBuffer buf =
                ByteBuffer.allocateDirect(p.view().length).put(p.view()).flip();
        NDArray view = Scalars.divi(
                m.create(buf, new Shape(b, spec.channels(), s, s), DataType.UINT8)
                        .toDevice(images.getDevice(), false)
                        .toType(DataType.FLOAT32, false),
                255f);
        NDArray mask = m.create(p.mask(), new Shape(b, n)).toDevice(images.getDevice(), false);
        NDArray target = m.create(p.tokens(), new Shape(b, n)).toDevice(images.getDevice(), false);
        NDArray patches =
                vit.forward(ctx.parameters(), new NDList(view, mask), true).singletonOrThrow();
        NDArray logits =
                head.forward(ctx.parameters(), new NDList(patches), true).singletonOrThrow();
        double share = 0;
        for (float v : p.mask()) {
            share += v;
        }
        maskedShare = share / p.mask().length;
        return maskedCrossEntropy(logits, target, mask);
    }

    /**
     * Mean cross entropy over the masked positions only.
     *
     * @param logits {@code [B, N, V]}
     * @param targets {@code [B, N]} token ids
     * @param mask {@code [B, N]}, 1 where masked
     */
    public static NDArray maskedCrossEntropy(NDArray logits, NDArray targets, NDArray mask) {
        NDArray logp = logits.logSoftmax(-1);
        NDArray picked = logp.gather(targets.toType(DataType.INT64, false).expandDims(-1), -1)
                .squeeze(-1);
        return picked.mul(mask).sum().neg().div(Scalars.maximum(mask.sum(), 1f));
    }

    @Override
    public Map<String, Double> progressMetrics() {
        long now = System.nanoTime();
        double share = waitNanos / (double) Math.max(1, now - lastReportNanos);
        waitNanos = 0;
        lastReportNanos = now;
        return Map.of("token_wait_share", share, "masked_share", maskedShare);
    }

    @Override
    public void release() {
        if (prefetcher != null) {
            prefetcher.shutdownNow();
        }
        if (hostManager != null) {
            hostManager.close();
        }
        tokens.close();
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>();
        TokenizerSpec t = tokens.spec();
        h.put("mask_min_block", masking.minBlock());
        h.put("vit_patch", vit.patchSize());
        h.put("vit_heads", spec.vitHeads());
        h.put("tokenizer_spec", t.kind() + " " + t.vocabularySize() + " tokens of " + t.patchSize() + " px");
        h.put("prefetch_steps", PREFETCH_STEPS);
        return h;
    }
}
