package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.util.Pair;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.cluster.KMeans;
import dev.selfsup.core.cluster.Nmi;
import dev.selfsup.core.cluster.Pca;
import dev.selfsup.core.config.Records;
import dev.selfsup.core.data.EpochSampler;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.eval.Features;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.ClassifierHead;
import dev.selfsup.core.nn.Losses;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * DeepCluster (Caron et al. 2018): at the start of every epoch the features of the whole training set are
 * extracted (inference mode, no augmentation), reduced by PCA with whitening and L2-normalised, and clustered by
 * k-means ({@link KMeans}, on the device); the assignments are the pseudo-labels of the epoch. The classifier's
 * last layer is re-initialised (its optimizer state zeroed), and batches are drawn uniformly over the clusters so
 * a few giant clusters cannot dominate. The NMI between successive epochs' assignments is reported as training
 * goes: it rises as the clustering stabilises.
 *
 * <p>The assignments and the epoch they belong to are method state, so a run resumed inside an epoch trains on
 * exactly the pseudo-labels it had.
 *
 * <p>With {@code clusterings} above 1, as in DeepCluster-v2 (Caron et al. 2020), k-means runs that many times from
 * different seeds on the same features and one classifier per clustering learns its labels: the encoder follows
 * what the clusterings agree on rather than the accidents of one. Sampling stays uniform over the first one's
 * clusters.
 *
 * <p>With {@code local_crops}, multi-crop as in DeepCluster-v2: small views of each image are classified into the
 * image's clusters as its full view is, so that a part of an object learns to say what the whole is.
 */
public final class DeepCluster extends EncoderMethod {
    /** DeepCluster, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "deepcluster",
                    "clustering: k-means on the features gives pseudo-labels to classify (Caron et al. 2018)",
                    new Settings(100, 0, 0.2f, DeepCluster.DEFAULT_JITTER, 1, 0, 0),
                    (s, c) -> new DeepCluster(
                            c.spec(),
                            views(c.spec(), s),
                            s.clusters(),
                            pcaDimension(s.pcaDim(), c.spec().featureDim()),
                            Methods.HEAD_HIDDEN,
                            s.clusterings(),
                            new LocalViews(
                                    c.spec(), s.localCrops(), s.localCropSize(), s.cropScaleMin(), s.jitterStrength())))
            .withCheck((s, spec, data) -> {
                LocalViews.checkBackbone(s.localCrops(), s.localCropSize(), spec);
                Records.require(
                        s.clusters() <= data.size(),
                        "clusters",
                        s.clusters() + " clusters need at least as " + "many images; the dataset has " + data.size());
                Records.require(
                        s.pcaDim() <= spec.featureDim(),
                        "pca_dim",
                        s.pcaDim() + " is larger than the " + "encoder's " + spec.featureDim() + " features");
            })
            .withDataParallel();

    /**
     * The PCA dimension a {@code pca_dim} of 0 stands for: 128, or all the encoder's features when it has fewer.
     * Measured on Fashion-MNIST against the paper's small reductions: 128 gave +0.35 kNN / +0.7 linear over 32 on
     * the 128 features of the small ConvNet, and +1.0 kNN on the grid backbone's 1,152 (256 no better than 128).
     */
    public static final int AUTO_PCA_DIM = 128;

    /**
     * The default colour-jitter strength of the training views, as the two-view methods'. Measured on Fashion-MNIST
     * at equal steps against the paper's crop and flip alone: +1.1 points of kNN on the small ConvNet, +0.3 on the
     * grid backbone, where 15-minute runs went from 85.9% and 85.7% to 86.1% and 86.3%.
     */
    public static final float DEFAULT_JITTER = 0.5f;

    /**
     * The training views: the paper's crop and flip, with the contrastive views' colour jitter when
     * {@code jitter_strength} is above 0 (DeepCluster-v2's stronger augmentation; brightness and contrast on
     * grayscale images).
     */
    static Augmentation views(BackboneSpec spec, Settings s) {
        return s.jitterStrength() > 0
                ? Contrastive.views(spec, s.cropScaleMin(), s.jitterStrength())
                : AugmentationPipeline.cropFlip(spec.imageSize(), s.cropScaleMin());
    }

    /** The PCA dimension a run uses for the setting {@code pcaDim} on an encoder of {@code features} values. */
    static int pcaDimension(int pcaDim, int features) {
        return pcaDim > 0 ? pcaDim : Math.min(AUTO_PCA_DIM, features);
    }

    /**
     * DeepCluster's settings.
     *
     * @param clusters k, the number of clusters (at most the number of images)
     * @param pcaDim the PCA dimension before k-means (at most the encoder's feature size; 0: {@link #AUTO_PCA_DIM}
     *     or the feature size if smaller)
     * @param cropScaleMin smallest area fraction of the random resized crop
     * @param jitterStrength colour-jitter strength of the training views ({@link #DEFAULT_JITTER}; 0: crop and flip
     *     only, as in the paper)
     * @param clusterings independent clusterings per epoch (k-means from different seeds), each the labels of its
     *     own classifier, their losses averaged (DeepCluster-v2 uses 3); 1 to {@link #MAX_CLUSTERINGS}
     * @param localCrops multi-crop's small views per image, each classified into its image's clusters as the full
     *     view is (0: the one view only)
     * @param localCropSize their side in pixels (0: about half the image's, at least 8)
     */
    public record Settings(
            int clusters,
            int pcaDim,
            float cropScaleMin,
            float jitterStrength,
            int clusterings,
            int localCrops,
            int localCropSize) {
        public Settings {
            Records.require(clusters >= 2, "clusters", "must be at least 2, got " + clusters);
            Records.require(
                    pcaDim == 0 || pcaDim >= 2, "pca_dim", "must be at least 2 (or 0: automatic), got " + pcaDim);
            SettingChecks.requireCropScale(cropScaleMin);
            Records.require(jitterStrength >= 0, "jitter_strength", "must be >= 0, got " + jitterStrength);
            Records.require(
                    clusterings >= 1 && clusterings <= MAX_CLUSTERINGS,
                    "clusterings",
                    "must be 1 to " + MAX_CLUSTERINGS + ", got " + clusterings);
            Records.require(
                    (long) clusters * clusterings <= MAX_OUTPUTS,
                    "clusters",
                    clusters + " clusters x " + clusterings + " clusterings is more than the " + MAX_OUTPUTS
                            + " classifier outputs allowed");
            LocalViews.checkSettings(localCrops, localCropSize, cropScaleMin);
        }
    }

    /** The most clusterings a run may ask for: each costs a k-means per epoch and {@code clusters} outputs. */
    public static final int MAX_CLUSTERINGS = 8;

    /**
     * The most classifier outputs ({@code clusters x clusterings}): 65,536 keeps the last layer under 130 MB of
     * weights, whatever a client asks.
     */
    public static final int MAX_OUTPUTS = 65_536;

    private static final Logger LOG = LoggerFactory.getLogger(DeepCluster.class);
    /** Lloyd iterations per epoch (Faiss's default is 20). */
    public static final int KMEANS_ITERATIONS = 20;

    private final Augmentation augment;
    private final int clusters;
    private final int pcaDim;
    private final int hidden;
    private final int clusterings;
    private final LocalViews localViews;
    private final SequentialBlock head;
    private final Block classifier;
    private NDArray assignmentState; // int32 [clusterings * N]: clustering h's assignments at [h * N, (h + 1) * N)
    private NDArray epochState; // int64 [1]: the epoch the assignments belong to, -1 before the first
    private int[][] assignments; // [clustering][image]
    private int[] previous; // the first clustering's assignments of the epoch before
    private final Object ready = new Object();
    private long readyEpoch = -1;
    private final Map<String, Double> metrics = new LinkedHashMap<>();

    /** @param localViews multi-crop's small views, classified as their image (none when its count is 0) */
    DeepCluster(
            BackboneSpec spec,
            Augmentation augment,
            int clusters,
            int pcaDim,
            int hidden,
            int clusterings,
            LocalViews localViews) {
        super("deepcluster", spec, Backbones.build(spec));
        if (pcaDim > spec.featureDim()) {
            throw new IllegalArgumentException(
                    "pca_dim: " + pcaDim + " is larger than the encoder's " + spec.featureDim() + " features");
        }
        this.augment = augment;
        this.clusters = clusters;
        this.pcaDim = pcaDim;
        this.hidden = hidden;
        this.clusterings = clusterings;
        this.localViews = localViews;
        // One last layer for all the clusterings: clustering h's logits are outputs [h * clusters, (h + 1) * clusters).
        this.head = ClassifierHead.mlp(hidden, clusters * clusterings);
        this.classifier = ClassifierHead.last(head);
        model.add(encoder).add(head);
    }

    @Override
    public void prepare(ImageDataset data, NDManager manager) {
        if (data.size() < clusters) {
            throw new IllegalArgumentException("clusters: " + clusters + " clusters need at least as many images; the "
                    + "dataset has " + data.size());
        }
        assignmentState = manager.zeros(new Shape((long) clusterings * data.size()), DataType.INT32);
        epochState = manager.create(new long[] {-1});
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        model.initialize(manager, DataType.FLOAT32, new Shape(2).addAll(imageShape));
    }

    @Override
    public Map<String, NDArray> state() {
        return Map.of("assignments", assignmentState, "assigned_epoch", epochState);
    }

    @Override
    public void beforeEpoch(EpochContext ctx) {
        long saved = epochState.getLong(0);
        if (ctx.resumed() && saved == ctx.epoch()) {
            int[] all = assignmentState.toIntArray();
            int n = all.length / clusterings;
            assignments = new int[clusterings][];
            for (int h = 0; h < clusterings; h++) {
                assignments[h] = Arrays.copyOfRange(all, h * n, (h + 1) * n);
            }
            LOG.info("epoch {}: resumed with the saved cluster assignments", ctx.epoch());
        } else {
            cluster(ctx);
        }
        synchronized (ready) {
            readyEpoch = ctx.epoch();
            ready.notifyAll();
        }
    }

    private void cluster(EpochContext ctx) {
        long t0 = System.nanoTime();
        KMeans.Result[] km = new KMeans.Result[clusterings];
        double explained;
        try (NDManager tmp = ctx.manager().newSubManager()) {
            NDArray features = Features.extract(encoder, ctx.data(), 512, tmp, ctx.bfloat16());
            long t1 = System.nanoTime();
            Pca pca = Pca.fit(features, pcaDim, tmp);
            explained = pca.explainedVariance();
            NDArray reduced = pca.transform(features);
            reduced.attach(tmp);
            long t2 = System.nanoTime();
            long seed = new SplittableRandom(ctx.seed()).nextLong() + ctx.epoch();
            for (int h = 0; h < clusterings; h++) {
                // The first keeps the seed a single clustering always had; the others start from other centroids.
                km[h] = KMeans.fit(reduced, clusters, KMEANS_ITERATIONS, seed + h * 0x9E3779B97F4A7C15L);
            }
            // Where an epoch's preparation goes: it is a third of a grid run's time (docs/benchmarks.md).
            metrics.put("cluster_extract_seconds", (t1 - t0) / 1e9);
            metrics.put("cluster_pca_seconds", (t2 - t1) / 1e9);
            metrics.put("cluster_kmeans_seconds", (System.nanoTime() - t2) / 1e9);
        }
        previous = assignments == null ? null : assignments[0];
        int n = km[0].assignments().length;
        int[][] next = new int[clusterings][];
        int[] all = new int[clusterings * n];
        for (int h = 0; h < clusterings; h++) {
            next[h] = km[h].assignments();
            System.arraycopy(next[h], 0, all, h * n, n);
        }
        assignments = next;
        try (NDManager tmp = ctx.manager().newSubManager()) {
            assignmentState.set(new NDIndex(":"), tmp.create(all).toDevice(assignmentState.getDevice(), false));
        }
        epochState.set(new NDIndex(0), ctx.epoch());
        reinitialiseClassifier(ctx);
        int nonEmpty = 0;
        int largest = 0;
        for (int s : km[0].sizes()) {
            nonEmpty += s > 0 ? 1 : 0;
            largest = Math.max(largest, s);
        }
        if (previous != null) {
            metrics.put("nmi_previous_epoch", Nmi.of(previous, assignments[0]));
        }
        metrics.put("clusters_non_empty", (double) nonEmpty);
        metrics.put("largest_cluster_share", largest / (double) n);
        int reseeded = 0;
        for (KMeans.Result r : km) {
            reseeded += r.reseeded();
        }
        metrics.put("kmeans_reseeded", (double) reseeded);
        if (clusterings > 1) {
            metrics.put("nmi_between_clusterings", Nmi.of(assignments[0], assignments[1]));
        }
        metrics.put("pca_explained_variance", explained);
        LOG.info(
                "epoch {}: k-means of {} images into {} clusters in {} s; {}",
                ctx.epoch(),
                n,
                clusterings > 1 ? clusterings + " x " + clusters : clusters,
                String.format("%.1f", (System.nanoTime() - t0) / 1e9),
                metrics);
    }

    /** A fresh last layer for the new pseudo-labels: N(0, 0.01) weights and zero biases, as in the paper. */
    private void reinitialiseClassifier(EpochContext ctx) {
        SplittableRandom rng = new SplittableRandom(ctx.seed() * 31 + ctx.epoch());
        for (Pair<String, Parameter> p : classifier.getParameters()) {
            NDArray w = p.getValue().getArray();
            int size = (int) w.size();
            float[] v = new float[size];
            if (p.getKey().endsWith("weight")) {
                Random g = new Random(rng.nextLong());
                for (int i = 0; i < size; i++) {
                    v[i] = (float) (0.01 * g.nextGaussian());
                }
            }
            try (NDManager tmp = ctx.manager().newSubManager()) {
                w.set(new NDIndex(":"), tmp.create(v, w.getShape()).toDevice(w.getDevice(), false));
            }
        }
        ctx.resetOptimizerState().accept(classifier);
    }

    @Override
    public EpochSampler sampler() {
        return this::uniformOverClusters;
    }

    /**
     * As many indices as images, drawn with replacement so each non-empty cluster gives the same number, then
     * shuffled: the paper's uniform sampling over pseudo-labels (the first clustering's, when there are several). Waits
     * until the epoch's clustering is done.
     */
    private int[] uniformOverClusters(long epoch) throws InterruptedException {
        int[] labels;
        synchronized (ready) {
            while (readyEpoch < epoch) {
                ready.wait();
            }
            labels = assignments[0];
        }
        List<List<Integer>> members = new ArrayList<>();
        for (int c = 0; c < clusters; c++) {
            members.add(new ArrayList<>());
        }
        for (int i = 0; i < labels.length; i++) {
            members.get(labels[i]).add(i);
        }
        members.removeIf(List::isEmpty);
        int n = labels.length;
        int per = n / members.size() + 1;
        SplittableRandom rng = new SplittableRandom(epoch * 0x9E3779B97F4A7C15L + 7);
        int[] order = new int[per * members.size()];
        int k = 0;
        for (List<Integer> m : members) {
            for (int j = 0; j < per; j++) {
                order[k++] = m.get(rng.nextInt(m.size()));
            }
        }
        for (int i = order.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return Arrays.copyOf(order, n);
    }

    /** The current pseudo-label of every training image (the first clustering's). */
    public int[] assignments() {
        return assignments[0].clone();
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        int[] idx = ctx.indices();
        // Image i's label of clustering h goes at i * clusterings + h: the row order of the logits
        // [B, clusterings * clusters] read as [B * clusterings, clusters].
        long[] y = new long[idx.length * clusterings];
        for (int i = 0; i < idx.length; i++) {
            for (int h = 0; h < clusterings; h++) {
                y[i * clusterings + h] = assignments[h][idx[i]];
            }
        }
        NDArray x = augment.apply(images, ctx.rng());
        NDArray logits = ctx.forward(model, x).reshape(-1, clusters);
        NDArray labels = images.getManager().create(y).toDevice(images.getDevice(), false);
        if (localViews.count() > 0) {
            // Local views come view by view, each in the batch's order: the labels repeat once per view, and every
            // view's rows weigh the same in the mean, as SwAV and DeepCluster-v2 average over all crops.
            NDArray local = ctx.forward(model, localViews.draw(ctx, images)).reshape(-1, clusters);
            logits = logits.concat(local, 0);
            labels = labels.tile(1 + localViews.count());
        }
        return Losses.crossEntropy(logits, labels);
    }

    @Override
    public Map<String, Double> progressMetrics() {
        return Map.copyOf(metrics);
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("kmeans_iterations", KMEANS_ITERATIONS);
        h.put("pca_dim_used", pcaDim);
        h.put("sampling", "uniform over clusters");
        h.put("head_hidden", hidden);
        if (localViews.count() > 0) {
            h.putAll(localViews.derivedValues());
        }
        return h;
    }
}
