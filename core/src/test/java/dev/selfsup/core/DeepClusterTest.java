package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * DeepCluster with several clusterings and with local views: every row of logits must be scored against the label
 * of its own image and clustering. Each epoch re-clusters and starts the classifiers afresh, so within an epoch the
 * loss falls from ln(k) only if the rows and labels line up; labels of other images or another clustering are noise
 * the network cannot fit in a few steps.
 */
class DeepClusterTest {
    private static final int CLUSTERS = 4;
    private static final int STEPS_PER_EPOCH = 12;
    private static final int N = 384;

    /**
     * 12 px images, each a bright band of 3 rows at one of four heights over noise: four clusters to find, which a
     * horizontal flip does not mix.
     */
    private static ImageDataset bands() {
        int s = 12;
        byte[] px = new byte[N * s * s];
        Random r = new Random(5);
        for (int i = 0; i < N; i++) {
            int y0 = (i % 4) * 3;
            for (int y = 0; y < s; y++) {
                for (int x = 0; x < s; x++) {
                    boolean on = y >= y0 && y < y0 + 3;
                    px[i * s * s + y * s + x] = (byte) (on ? 180 + r.nextInt(75) : r.nextInt(60));
                }
            }
        }
        return new ImageDataset("bands", px, null, N, 1, s, s, List.of());
    }

    /**
     * 12 px images of four brightness levels under noise: four clusters that any crop of an image shows, however
     * small, as long as no colour jitter moves the levels.
     */
    private static ImageDataset levels() {
        int s = 12;
        byte[] px = new byte[N * s * s];
        Random r = new Random(6);
        for (int i = 0; i < N; i++) {
            int level = 30 + (i % 4) * 60;
            for (int p = 0; p < s * s; p++) {
                px[i * s * s + p] = (byte) (level + r.nextInt(31) - 15);
            }
        }
        return new ImageDataset("levels", px, null, N, 1, s, s, List.of());
    }

    private static PretrainConfig.Builder config() {
        return PretrainConfig.defaults("deepcluster").toBuilder()
                .depth(1)
                .width(8)
                .batchSize(N / STEPS_PER_EPOCH)
                .steps(3 * STEPS_PER_EPOCH)
                .learningRate(0.01f)
                .warmupEpochs(0)
                .device("cpu")
                .logEverySteps(1)
                .setting("clusters", CLUSTERS)
                .setting("pca_dim", 8);
    }

    @Test
    void eachClassifierLearnsItsOwnClustering() throws Exception {
        PretrainConfig c = config().setting("clusterings", 3)
                .setting("crop_scale_min", 0.8f)
                .build();
        List<Map<String, Double>> metrics = new ArrayList<>();
        List<Double> losses = train(c, bands(), metrics);
        double agreement = metrics.get(metrics.size() - 1).get("nmi_between_clusterings");
        assertTrue(agreement > 0 && agreement <= 1 + 1e-9, "NMI between clusterings " + agreement);
        Map<String, Double> last = metrics.get(metrics.size() - 1);
        for (String phase : List.of("cluster_extract_seconds", "cluster_pca_seconds", "cluster_kmeans_seconds")) {
            assertTrue(last.getOrDefault(phase, 0.0) > 0, phase + " is reported: " + last);
        }
        assertLearned(losses);
    }

    /** Two local views per image, each scored against its image's label: the mean over all three views must fall. */
    @Test
    void localViewsLearnTheirImagesClusters() throws Exception {
        PretrainConfig c = config().setting("local_crops", 2)
                .setting("local_crop_size", 8)
                .setting("jitter_strength", 0f)
                .build();
        assertLearned(train(c, levels(), new ArrayList<>()));
    }

    private static List<Double> train(PretrainConfig c, ImageDataset data, List<Map<String, Double>> metrics)
            throws Exception {
        float[][] st = Pretrainer.channelStats(data);
        List<Double> losses = new ArrayList<>();
        try (Pretrainer t = new Pretrainer(c, data, st[0], st[1])) {
            t.addListener(new PretrainListener() {
                @Override
                public void onProgress(Progress p) {
                    losses.add(p.loss());
                    metrics.add(p.methodMetrics());
                }
            });
            assertEquals(PretrainResult.Status.FINISHED, t.run().status());
        }
        return losses;
    }

    /** The loss over the last quarter of the third epoch must fall below half of chance, ln(k). */
    private static void assertLearned(List<Double> losses) {
        assertEquals(3 * STEPS_PER_EPOCH, losses.size());
        double chance = Math.log(CLUSTERS);
        double lastQuarter = losses.subList(losses.size() - STEPS_PER_EPOCH / 4, losses.size()).stream()
                .mapToDouble(Double::doubleValue)
                .average()
                .orElseThrow();
        assertTrue(
                lastQuarter < 0.5 * chance,
                "loss over the last quarter of the last epoch " + lastQuarter + " against chance " + chance + ": "
                        + losses);
    }
}
