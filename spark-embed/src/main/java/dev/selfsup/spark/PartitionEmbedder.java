package dev.selfsup.spark;

import dev.selfsup.core.data.PixelBudget;
import dev.selfsup.core.train.BundleEmbedder;
import java.io.Serializable;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * What one Spark task does with its partition of {@code (id, image)} rows: decodes the images a batch at a time,
 * embeds the batch, and gives one row per image, {@code (id, vector, error)}: the vector for an image that decoded,
 * the reason for one that did not (a broken image costs its own row only). Lazy: a partition of any size holds one
 * batch in memory.
 */
final class PartitionEmbedder implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The rows a task gives. */
    static final StructType SCHEMA = new StructType()
            .add("id", DataTypes.StringType, false)
            .add("vector", DataTypes.createArrayType(DataTypes.FloatType, false), true)
            .add("error", DataTypes.StringType, true);

    private final String bundleLocation;
    private final String bundleSha256;
    private final int batchSize;
    private final long maxImagePixels;
    private final int intraOpThreads;

    /**
     * @param bundleLocation the bundle's path, as the driver was given it
     * @param bundleSha256 its SHA-256, which every executor's copy must have
     * @param batchSize images per forward pass
     * @param maxImagePixels the largest image decoded (width x height); a larger one is a broken row
     * @param intraOpThreads libtorch's threads per operation in each executor
     */
    PartitionEmbedder(
            String bundleLocation, String bundleSha256, int batchSize, long maxImagePixels, int intraOpThreads) {
        this.bundleLocation = bundleLocation;
        this.bundleSha256 = bundleSha256;
        this.batchSize = batchSize;
        this.maxImagePixels = maxImagePixels;
        this.intraOpThreads = intraOpThreads;
    }

    /** The output rows of a partition's input rows ({@code id} string, {@code image} binary). */
    Iterator<Row> apply(Iterator<Row> input) {
        BundleEmbedder embedder = ExecutorBundles.get(bundleLocation, bundleSha256, batchSize, intraOpThreads);
        return new Iterator<>() {
            private final ArrayDeque<Row> ready = new ArrayDeque<>();

            @Override
            public boolean hasNext() {
                if (ready.isEmpty() && input.hasNext()) {
                    embedBatch(embedder, input, ready);
                }
                return !ready.isEmpty();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return ready.poll();
            }
        };
    }

    private void embedBatch(BundleEmbedder embedder, Iterator<Row> input, ArrayDeque<Row> out) {
        int per = embedder.imageFloats();
        int dim = embedder.featureDim();
        float[] pixels = new float[batchSize * per];
        List<String> ids = new ArrayList<>();
        // Rows keep the input's order: a broken image's row waits for the batch it sits in.
        List<Row> pending = new ArrayList<>();
        List<Integer> slots = new ArrayList<>();
        while (ids.size() < batchSize && input.hasNext()) {
            Row r = input.next();
            String id = r.getString(0);
            byte[] image = r.isNullAt(1) ? null : (byte[]) r.get(1);
            String error = null;
            if (image == null || image.length == 0) {
                error = "no image bytes";
            } else {
                try {
                    embedder.decodeInto(image, maxImagePixels, PixelBudget.UNLIMITED, pixels, ids.size() * per);
                } catch (IllegalArgumentException e) {
                    error = e.getMessage();
                }
            }
            if (error != null) {
                pending.add(RowFactory.create(id, null, error));
                slots.add(-1);
            } else {
                slots.add(ids.size());
                pending.add(null);
                ids.add(id);
            }
        }
        float[] vectors = ids.isEmpty() ? new float[0] : embedder.embed(pixels, ids.size());
        for (int i = 0; i < pending.size(); i++) {
            int slot = slots.get(i);
            if (slot < 0) {
                out.add(pending.get(i));
            } else {
                float[] v = java.util.Arrays.copyOfRange(vectors, slot * dim, (slot + 1) * dim);
                out.add(RowFactory.create(ids.get(slot), boxed(v), null));
            }
        }
    }

    /** Spark's rows take an array column as a Java array of boxed values or a Seq. */
    private static Float[] boxed(float[] v) {
        Float[] b = new Float[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = v[i];
        }
        return b;
    }
}
