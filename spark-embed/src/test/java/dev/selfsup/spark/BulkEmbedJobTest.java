package dev.selfsup.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.train.BundleEmbedder;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.core.train.Provenance;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Spark job in local mode on a generated folder of thousands of images: every image is in exactly one output,
 * the vectors equal those of the encoder-service's code path (one image at a time, {@link BundleEmbedder}), and a
 * broken image is skipped and named.
 */
class BulkEmbedJobTest {
    static final int IMAGES = 3000;
    static final int SIZE = 28;

    @TempDir
    static Path dir;

    static SparkSession spark;
    static Path bundle;
    static Path folder;
    static Map<String, byte[]> files = new HashMap<>();

    @BeforeAll
    static void up() throws IOException {
        spark = SparkSession.builder()
                .master("local[2]")
                .appName("bulk-embed-test")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .getOrCreate();
        BackboneSpec spec = new BackboneSpec("small-convnet", 8, 1, 1, SIZE, new float[] {0.3f}, new float[] {0.3f});
        bundle = dir.resolve("fashion.bundle");
        try (NDManager m = NDManager.newBaseManager()) {
            Block encoder = Backbones.build(spec);
            encoder.initialize(
                    m, ai.djl.ndarray.types.DataType.FLOAT32, new ai.djl.ndarray.types.Shape(1, 1, SIZE, SIZE));
            EncoderBundle.write(
                    bundle,
                    encoder,
                    spec,
                    new Provenance(
                            "none", spec, Map.of(), "none", "", 0, 0, 0, 0, "dev", "", "", "cpu", Instant.now()));
        }
        // Images of different sizes (the job resizes them as the service does), some in a subfolder, one PNG
        // whose bytes are not an image and one text file that is not read at all.
        folder = dir.resolve("images");
        Files.createDirectories(folder.resolve("more"));
        Random r = new Random(5);
        for (int i = 0; i < IMAGES; i++) {
            int side = 20 + i % 17;
            BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_BYTE_GRAY);
            int x0 = r.nextInt(side / 2);
            for (int y = 0; y < side; y++) {
                for (int x = 0; x < side; x++) {
                    img.getRaster()
                            .setSample(x, y, 0, (x >= x0 && x < x0 + side / 3) ? 200 + r.nextInt(55) : r.nextInt(40));
                }
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(img, "png", out);
            Path f = folder.resolve(i % 10 == 0 ? "more" : ".")
                    .resolve(String.format("img-%05d.png", i))
                    .normalize();
            Files.write(f, out.toByteArray());
            files.put(f.getFileName().toString(), out.toByteArray());
        }
        Files.writeString(folder.resolve("broken.png"), "not a png");
        Files.writeString(folder.resolve("notes.txt"), "not an image");
    }

    @AfterAll
    static void down() {
        if (spark != null) {
            spark.stop();
        }
    }

    @Test
    void everyImageIsEmbeddedOnceAsTheServiceWouldAndTheBrokenOneIsNamed() {
        String output = dir.resolve("out").toString();
        BulkEmbedJob.Summary s = BulkEmbedJob.run(
                spark,
                new BulkEmbedJob.Options(
                        folder.toString(),
                        false,
                        "id",
                        "image",
                        bundle,
                        "fashion",
                        3,
                        output,
                        "parquet",
                        6,
                        64,
                        1L << 24,
                        1));
        assertEquals(IMAGES, s.embedded());
        assertEquals(1, s.broken());
        assertEquals(8 * 4, s.dim());

        List<Row> broken = spark.read().parquet(output + "/broken").collectAsList();
        assertTrue(
                broken.get(0).getString(0).endsWith("/broken.png"),
                broken.get(0).getString(0));
        assertTrue(broken.get(0).getString(1).contains("not"), broken.get(0).getString(1));

        List<Row> rows = spark.read().parquet(output + "/embeddings").collectAsList();
        assertEquals(IMAGES, rows.size());
        assertEquals(
                IMAGES, rows.stream().map(row -> row.getString(0)).distinct().count(), "no image twice");
        try (NDManager m = NDManager.newBaseManager()) {
            BundleEmbedder one = new BundleEmbedder(EncoderBundle.read(bundle, m), m, 1);
            float[] pixels = new float[one.imageFloats()];
            double worst = 0;
            for (Row row : rows) {
                assertEquals("fashion", row.getString(1));
                assertEquals(3, row.getInt(2));
                assertEquals(s.bundleSha256(), row.getString(3));
                String name = Path.of(row.getString(0).replaceFirst("^file:", ""))
                        .getFileName()
                        .toString();
                one.decodeInto(files.get(name), 1L << 24, dev.selfsup.core.data.PixelBudget.UNLIMITED, pixels, 0);
                float[] expected = one.embed(pixels, 1);
                List<Float> got = row.getList(4);
                assertEquals(expected.length, got.size());
                for (int i = 0; i < expected.length; i++) {
                    worst = Math.max(worst, Math.abs(expected[i] - got.get(i)));
                }
            }
            assertTrue(worst <= 1e-5, "largest difference from one image at a time: " + worst);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void parquetRowsOfEncodedImagesAreEmbeddedUnderTheirIds() {
        StructType schema =
                new StructType().add("key", DataTypes.LongType, false).add("png", DataTypes.BinaryType, true);
        List<Row> in = List.of(
                RowFactory.create(7L, files.get("img-00001.png")),
                RowFactory.create(8L, null),
                RowFactory.create(9L, files.get("img-00002.png")));
        String input = dir.resolve("in.parquet").toString();
        spark.createDataFrame(in, schema).write().parquet(input);
        String output = dir.resolve("out-parquet").toString();
        BulkEmbedJob.Summary s = BulkEmbedJob.run(
                spark,
                new BulkEmbedJob.Options(
                        input, true, "key", "png", bundle, "fashion", 1, output, "json", 0, 2, 1L << 24, 1));
        assertEquals(2, s.embedded());
        assertEquals(1, s.broken());
        Row broken = spark.read().json(output + "/broken").first();
        // JSON is read back with its columns in name order: by name.
        assertEquals("8", broken.<String>getAs("id"));
        assertEquals("no image bytes", broken.<String>getAs("error"));
    }
}
