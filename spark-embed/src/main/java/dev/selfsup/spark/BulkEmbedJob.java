package dev.selfsup.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;

import java.nio.file.Path;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;

/**
 * The bulk-embedding plan: read {@code (id, image)} rows, embed each partition on its executor
 * ({@link PartitionEmbedder}), and write two datasets (Parquet unless told otherwise) under the output folder:
 * {@code embeddings} (id, model, version, bundle_sha256, vector) and {@code broken} (id, error), one row per input
 * image in exactly one of them.
 */
public final class BulkEmbedJob {
    /** The output formats: Spark's own writers that hold an array column. */
    static final java.util.Set<String> FORMATS = java.util.Set.of("parquet", "orc", "json");

    /** File names a folder input takes, in lower case or capitals. */
    static final String IMAGE_GLOB = "*.{png,PNG,jpg,JPG,jpeg,JPEG}";

    /**
     * What to embed and where to write it.
     *
     * @param input an image folder (read recursively) or Parquet files
     * @param parquet whether the input is Parquet rather than a folder of image files
     * @param idColumn Parquet: the column that names an image (any type, written as a string)
     * @param imageColumn Parquet: the column of encoded PNG or JPEG bytes
     * @param bundle the encoder bundle (.bundle, as exported or published)
     * @param model the model name written in every row
     * @param version the version written in every row
     * @param output the folder the two datasets are written under (replaced if it exists)
     * @param format how they are written: parquet, orc or json (Spark's writers)
     * @param partitions input partitions (0: as Spark reads them)
     * @param batchSize images per forward pass on an executor
     * @param maxImagePixels the largest image decoded (width x height)
     * @param intraOpThreads libtorch's threads per operation in each executor (1: one per task, Spark runs a task
     *     per core)
     */
    public record Options(
            String input,
            boolean parquet,
            String idColumn,
            String imageColumn,
            Path bundle,
            String model,
            int version,
            String output,
            String format,
            int partitions,
            int batchSize,
            long maxImagePixels,
            int intraOpThreads) {}

    /**
     * What a job did.
     *
     * @param embedded rows written to {@code embeddings}
     * @param broken rows written to {@code broken}
     * @param seconds the job's wall time from reading to the last write
     */
    public record Summary(long embedded, long broken, String bundleSha256, int dim, double seconds) {
        /** Images (embedded or broken) per second of wall time. */
        public double imagesPerSecond() {
            return seconds > 0 ? (embedded + broken) / seconds : 0;
        }
    }

    private BulkEmbedJob() {}

    /** Runs the job on {@code spark}; returns when both datasets are written. */
    public static Summary run(SparkSession spark, Options o) {
        long t0 = System.nanoTime();
        String sha = ExecutorBundles.sha256(o.bundle());
        Dataset<Row> images = read(spark, o);
        if (o.partitions() > 0) {
            // Fewer partitions than read: merged without moving a byte (many small image files make thousands of
            // input splits). More: a shuffle is the only way to spread them.
            int read = images.rdd().getNumPartitions();
            images = read > o.partitions() ? images.coalesce(o.partitions()) : images.repartition(o.partitions());
        }
        PartitionEmbedder embedder = new PartitionEmbedder(
                o.bundle().toAbsolutePath().toString(), sha, o.batchSize(), o.maxImagePixels(), o.intraOpThreads());
        Dataset<Row> rows = images.mapPartitions(
                (MapPartitionsFunction<Row, Row>) embedder::apply, Encoders.row(PartitionEmbedder.SCHEMA));
        // Both outputs come from one pass over the images: kept until both are written.
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK());
        try {
            rows.filter(col("error").isNull())
                    .select(
                            col("id"),
                            lit(o.model()).as("model"),
                            lit(o.version()).as("version"),
                            lit(sha).as("bundle_sha256"),
                            col("vector"))
                    .write()
                    .mode(SaveMode.Overwrite)
                    .format(o.format())
                    .save(o.output() + "/embeddings");
            rows.filter(col("error").isNotNull())
                    .select(col("id"), col("error"))
                    .write()
                    .mode(SaveMode.Overwrite)
                    .format(o.format())
                    .save(o.output() + "/broken");
            // Counted from what was written, not from what was meant to be.
            long broken =
                    spark.read().format(o.format()).load(o.output() + "/broken").count();
            Dataset<Row> written = spark.read().format(o.format()).load(o.output() + "/embeddings");
            long embedded = written.count();
            int dim = embedded == 0
                    ? 0
                    : written.select("vector").first().getList(0).size();
            return new Summary(embedded, broken, sha, dim, (System.nanoTime() - t0) / 1e9);
        } finally {
            rows.unpersist();
        }
    }

    /** The input as {@code (id string, image binary)} rows. */
    static Dataset<Row> read(SparkSession spark, Options o) {
        if (o.parquet()) {
            return spark.read()
                    .parquet(o.input())
                    .select(
                            col(o.idColumn()).cast("string").as("id"),
                            col(o.imageColumn()).as("image"));
        }
        return spark.read()
                .format("binaryFile")
                .option("recursiveFileLookup", "true")
                .option("pathGlobFilter", IMAGE_GLOB)
                .load(o.input())
                .select(col("path").as("id"), col("content").as("image"));
    }
}
