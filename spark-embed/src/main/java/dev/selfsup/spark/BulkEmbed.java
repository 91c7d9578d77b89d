package dev.selfsup.spark;

import dev.selfsup.core.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The bulk-embedding job's entry point for {@code spark-submit} (docs/spark.md). Prints one JSON line with what it
 * did: images embedded and broken, the bundle's SHA-256, the wall time and images per second.
 */
@Command(
        name = "selfsup-spark-embed",
        mixinStandardHelpOptions = true,
        description = "Embed an image folder or Parquet images with an encoder bundle; write Parquet.")
public final class BulkEmbed implements Callable<Integer> {
    @Option(names = "--input", required = true, description = "an image folder (recursive) or Parquet files")
    String input;

    @Option(names = "--parquet", description = "the input is Parquet rows of encoded images, not a folder")
    boolean parquet;

    @Option(
            names = "--id-column",
            defaultValue = "id",
            description = "Parquet: the column naming an image (${DEFAULT-VALUE})")
    String idColumn;

    @Option(
            names = "--image-column",
            defaultValue = "image",
            description = "Parquet: the PNG/JPEG bytes (${DEFAULT-VALUE})")
    String imageColumn;

    @Option(
            names = "--bundle",
            required = true,
            description = "the encoder bundle file (every executor reads it, or ship it with --files)")
    Path bundle;

    @Option(names = "--model", description = "the model name written in every row (default: the bundle's file name)")
    String model;

    @Option(
            names = "--version",
            defaultValue = "1",
            description = "the version written in every row (${DEFAULT-VALUE})")
    int version;

    @Option(names = "--output", required = true, description = "the folder for the embeddings/ and broken/ datasets")
    String output;

    @Option(names = "--format", defaultValue = "parquet", description = "parquet, orc or json (${DEFAULT-VALUE})")
    String format;

    @Option(
            names = "--partitions",
            defaultValue = "0",
            description = "partitions to embed in: input splits are merged, or shuffled when fewer (0: as read)")
    int partitions;

    @Option(names = "--batch-size", defaultValue = "256", description = "images per forward pass (${DEFAULT-VALUE})")
    int batchSize;

    @Option(
            names = "--max-image-pixels",
            defaultValue = "16777216",
            description = "the largest image decoded, width x height (${DEFAULT-VALUE})")
    long maxImagePixels;

    @Option(
            names = "--intra-op-threads",
            defaultValue = "1",
            description =
                    "libtorch threads per operation in each executor (${DEFAULT-VALUE}: Spark runs a task per core)")
    int intraOpThreads;

    @Option(names = "--master", description = "Spark master when not started by spark-submit, e.g. local[2]")
    String master;

    @Override
    public Integer call() {
        if (!Files.isRegularFile(bundle)) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--bundle " + bundle + " is not a file");
        }
        if (intraOpThreads < 1 || intraOpThreads > 256) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--intra-op-threads must be 1 to 256");
        }
        if (batchSize < 1 || batchSize > 4096) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--batch-size must be 1 to 4096");
        }
        if (!BulkEmbedJob.FORMATS.contains(format)) {
            throw new CommandLine.ParameterException(
                    new CommandLine(this), "--format must be one of " + new TreeSet<>(BulkEmbedJob.FORMATS));
        }
        String name = model != null ? model : bundle.getFileName().toString().replaceFirst("\\.bundle$", "");
        SparkSession.Builder b = SparkSession.builder().appName("selfsup-spark-embed");
        if (master != null) {
            b = b.master(master);
        }
        SparkSession spark = b.getOrCreate();
        try {
            BulkEmbedJob.Summary s = BulkEmbedJob.run(
                    spark,
                    new BulkEmbedJob.Options(
                            input,
                            parquet,
                            idColumn,
                            imageColumn,
                            bundle,
                            name,
                            version,
                            output,
                            format,
                            partitions,
                            batchSize,
                            maxImagePixels,
                            intraOpThreads));
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("embedded", s.embedded());
            line.put("broken", s.broken());
            line.put("dim", s.dim());
            line.put("bundle_sha256", s.bundleSha256());
            line.put("seconds", Math.round(s.seconds() * 10) / 10.0);
            line.put("images_per_second", Math.round(s.imagesPerSecond() * 10) / 10.0);
            line.put("output", output);
            System.out.println(Json.write(line));
            return 0;
        } finally {
            spark.stop();
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new BulkEmbed()).execute(args));
    }
}
