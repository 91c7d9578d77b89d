package dev.selfsup.core.tokenizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.cluster.KMeans;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.eval.Features;
import java.util.SplittableRandom;

/**
 * The tokenizer that needs no training, for comparison: k-means over the raw pixels of patches. A token is the
 * nearest centroid of its patch and decodes to that centroid's pixels.
 */
public final class PatchKMeansTokenizer implements VisualTokenizer {
    private final TokenizerSpec spec;
    private final NDArray centroids; // [K, C p p]

    public PatchKMeansTokenizer(TokenizerSpec spec, NDArray centroids) {
        if (!TokenizerSpec.KMEANS_PATCHES.equals(spec.kind())) {
            throw new IllegalArgumentException("not a k-means patch tokenizer spec: " + spec.kind());
        }
        long dim = (long) spec.channels() * spec.patchSize() * spec.patchSize();
        if (!centroids.getShape().equals(new Shape(spec.vocabularySize(), dim))) {
            throw new IllegalArgumentException("centroids " + centroids.getShape() + " do not fit " + spec);
        }
        this.spec = spec;
        this.centroids = centroids;
    }

    /** Clusters the patches of up to {@code maxImages} images (a seeded sample) into the vocabulary. */
    public static PatchKMeansTokenizer fit(
            TokenizerSpec spec, ImageDataset data, int maxImages, int iterations, long seed, NDManager manager) {
        if (data.height() != spec.imageSize() || data.channels() != spec.channels()) {
            throw new IllegalArgumentException("the data's images are " + data.channels() + "x" + data.height()
                    + ", the tokenizer reads " + spec.channels() + "x" + spec.imageSize());
        }
        int n = Math.min(maxImages, data.size());
        int[] order = new int[n];
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            order[i] = n == data.size() ? i : rng.nextInt(data.size());
        }
        try (NDManager tmp = manager.newSubManager()) {
            NDArray images = Features.images(data, order, 0, n, tmp, manager.getDevice());
            NDArray rows = VisualTokenizer.patches(images, spec.patchSize());
            float[] c =
                    KMeans.fit(rows, spec.vocabularySize(), iterations, seed).centroids();
            NDArray centroids = manager.create(
                            c, new Shape(spec.vocabularySize(), rows.getShape().get(1)))
                    .toDevice(manager.getDevice(), false);
            return new PatchKMeansTokenizer(spec, centroids);
        }
    }

    @Override
    public TokenizerSpec spec() {
        return spec;
    }

    public NDArray centroids() {
        return centroids;
    }

    @Override
    public ai.djl.Device device() {
        return centroids.getDevice();
    }

    @Override
    public NDArray tokenize(NDArray images) {
        long b = images.getShape().get(0);
        int g = spec.gridSize();
        // Temporaries made from the centroids would belong to their long-lived manager: the scope frees them.
        try (NDScope scope = new NDScope()) {
            NDArray rows = VisualTokenizer.patches(images, spec.patchSize());
            NDArray d = rows.square()
                    .sum(new int[] {1}, true)
                    .add(centroids.square().sum(new int[] {1}).reshape(1, -1))
                    .subi(Scalars.muli(rows.matMul(centroids.transpose()), 2f));
            NDArray ids = d.argMin(1).reshape(b, g, g);
            NDScope.unregister(ids);
            return ids;
        }
    }

    @Override
    public NDArray decode(NDArray tokens) {
        long b = tokens.getShape().get(0);
        NDArray rows = centroids.get(new NDIndex("{}", tokens.reshape(-1).toType(DataType.INT64, false)));
        rows.attach(tokens.getManager());
        return VisualTokenizer.unpatch(rows, b, spec.channels(), spec.gridSize(), spec.patchSize());
    }
}
