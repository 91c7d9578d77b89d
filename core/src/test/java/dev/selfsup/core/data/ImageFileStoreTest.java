package dev.selfsup.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image folders read from disk as batches need them give exactly the bytes of the same folder decoded in memory, in
 * the same batches, whatever the number of decoding threads; a file that breaks mid-run is stood in for.
 */
class ImageFileStoreTest {
    @TempDir
    static Path dir;

    private static Path folder;

    /** 37 images of various sizes in 3 classes, PNG and JPEG; 37 is not a multiple of any batch size used. */
    @BeforeAll
    static void writeFolder() throws IOException {
        folder = dir.resolve("photos");
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < 37; i++) {
            int w = 20 + rng.nextInt(40);
            int h = 20 + rng.nextInt(40);
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = img.createGraphics();
            g.setColor(new Color(rng.nextInt(1 << 24)));
            g.fillRect(0, 0, w, h);
            g.setColor(new Color(rng.nextInt(1 << 24)));
            g.fillOval(rng.nextInt(w / 2), rng.nextInt(h / 2), w / 2, h / 2);
            g.dispose();
            String format = i % 3 == 0 ? "jpg" : "png";
            Path p = folder.resolve("class" + (i % 3)).resolve(String.format("img%03d.%s", i, format));
            Files.createDirectories(p.getParent());
            ImageIO.write(img, format, p.toFile());
        }
    }

    @Test
    void onDiskReadsTheSameBytesAsInMemory() throws IOException {
        ImageDataset memory = ImageFolderReader.read("m", folder, 3, 16, new ReadOptions(1L << 30, 1));
        ImageDataset disk = ImageFolderReader.read("d", folder, 3, 16, ReadOptions.streamed(3));
        assertTrue(memory.inMemory());
        assertFalse(disk.inMemory());
        assertTrue(disk.toString().contains("read from disk"), disk.toString());
        assertEquals(37, disk.size());
        assertEquals(memory.classNames(), disk.classNames());
        assertArrayEquals(memory.labels(), disk.labels());
        for (int i = 0; i < memory.size(); i++) {
            assertArrayEquals(memory.image(i), disk.image(i), "image " + i);
        }
        assertEquals(memory.pixel(5, 2, 7, 3), disk.pixel(5, 2, 7, 3));
        int[] order = BatchLoader.permutation(37, 11, 0);
        ByteBuffer a = ByteBuffer.allocate(20 * memory.imageBytes());
        ByteBuffer b = ByteBuffer.allocate(20 * memory.imageBytes());
        memory.copyImages(order, 7, 20, a);
        disk.copyImages(order, 7, 20, b);
        assertEquals(a.position(), b.position());
        assertArrayEquals(a.array(), b.array());
        assertArrayEquals(memory.slice(10, 20).image(3), disk.slice(10, 20).image(3));
        assertArrayEquals(memory.head(5).image(4), disk.head(5).withoutLabels().image(4));
        assertEquals(5, disk.head(5).size());
        assertFalse(disk.head(5).inMemory());
        // The statistics sample a dataset on disk, but 37 images are all of it: the same numbers.
        assertArrayEquals(
                dev.selfsup.core.train.Pretrainer.channelStats(memory)[0],
                dev.selfsup.core.train.Pretrainer.channelStats(disk)[0]);
        assertNotEquals(disk.fingerprint(), disk.head(36).fingerprint());
        assertEquals(
                disk.fingerprint(),
                ImageFolderReader.read("d", folder, 3, 16, ReadOptions.streamed(1))
                        .fingerprint());
    }

    @Test
    void batchesFromDiskEqualBatchesFromMemoryAcrossEpochs() throws IOException {
        ImageDataset memory = ImageFolderReader.read("m", folder, 1, 12, new ReadOptions(1L << 30, 2));
        ImageDataset disk = ImageFolderReader.read("d", folder, 1, 12, ReadOptions.streamed(2));
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
                BatchLoader fromMemory = new BatchLoader(memory, 8, 42, 3);
                BatchLoader fromDisk = new BatchLoader(disk, 8, 42, 3)) {
            // 4 batches per epoch: steps 3..10 cross two epoch boundaries.
            for (int step = 3; step < 11; step++) {
                BatchLoader.Batch x = fromMemory.nextBatch(m, Device.cpu());
                BatchLoader.Batch y = fromDisk.nextBatch(m, Device.cpu());
                assertArrayEquals(x.indices(), y.indices(), "step " + step);
                assertArrayEquals(x.images().toFloatArray(), y.images().toFloatArray(), "step " + step);
            }
        }
    }

    @Test
    void hostViewsAreCroppedFromTheSourceFilesAndRepeatable() throws IOException {
        ImageDataset disk = ImageFolderReader.read("d", folder, 3, 16, ReadOptions.streamed(2));
        // View 0: the whole source image (the same bytes as a plain read); view 1: its top-left quarter.
        HostViews views = new HostViews(2, (h, w, rng) -> new int[] {0, 0, h, w});
        HostViews quarter = new HostViews(2, (h, w, rng) -> new int[] {0, 0, h / 2, w / 2});
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
                BatchLoader whole = new BatchLoader(disk, 8, 42, 0);
                BatchLoader full = new BatchLoader(disk, 8, 42, 0, null, views);
                BatchLoader quarters = new BatchLoader(disk, 8, 42, 0, null, quarter)) {
            assertTrue(full.hostViews());
            BatchLoader.Batch w = whole.nextBatch(m, Device.cpu());
            BatchLoader.Batch f = full.nextBatch(m, Device.cpu());
            BatchLoader.Batch q = quarters.nextBatch(m, Device.cpu());
            assertEquals(List.of(), w.views());
            assertEquals(2, f.views().size());
            assertEquals(w.images().getShape(), f.views().get(1).getShape());
            assertArrayEquals(w.images().toFloatArray(), f.views().get(0).toFloatArray(), "a full box is the image");
            assertArrayEquals(w.images().toFloatArray(), f.views().get(1).toFloatArray());
            assertFalse(
                    java.util.Arrays.equals(
                            w.images().toFloatArray(), q.views().get(0).toFloatArray()),
                    "a quarter is cropped from the source, not the resized image");
        }
        // Random boxes: a loader started at step 5 crops what a loader that ran from step 0 crops at step 5.
        HostViews random = new HostViews(2, (h, w, rng) -> {
            int ch = 1 + rng.nextInt(h);
            int cw = 1 + rng.nextInt(w);
            return new int[] {rng.nextInt(h - ch + 1), rng.nextInt(w - cw + 1), ch, cw};
        });
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
                BatchLoader fromStart = new BatchLoader(disk, 8, 7, 0, null, random);
                BatchLoader resumed = new BatchLoader(disk, 8, 7, 5, null, random)) {
            BatchLoader.Batch b = null;
            for (int step = 0; step <= 5; step++) {
                b = fromStart.nextBatch(m, Device.cpu());
            }
            BatchLoader.Batch c = resumed.nextBatch(m, Device.cpu());
            assertArrayEquals(b.indices(), c.indices());
            for (int v = 0; v < 2; v++) {
                assertArrayEquals(
                        b.views().get(v).toFloatArray(), c.views().get(v).toFloatArray(), "view " + v);
            }
            assertFalse(
                    java.util.Arrays.equals(
                            b.views().get(0).toFloatArray(), b.views().get(1).toFloatArray()),
                    "the two views differ");
        }
        // Images in memory were resized when read: no host views, the device crops.
        ImageDataset memory = ImageFolderReader.read("m", folder, 3, 16, new ReadOptions(1L << 30, 1));
        try (BatchLoader l = new BatchLoader(memory, 8, 1, 0, null, random)) {
            assertFalse(l.hostViews());
        }
    }

    @Test
    void aFolderLargerThanTheLimitIsReadFromDiskNotRefused() throws IOException {
        // 37 images of 3 x 64 x 64 bytes are 455 KB: over a 100 KB limit.
        ImageDataset d = ImageFolderReader.read("big", folder, 3, 64, new ReadOptions(100_000, 2));
        assertFalse(d.inMemory());
        assertEquals(37, d.size());
        assertEquals(3 * 64 * 64, d.image(36).length);
        assertTrue(ImageFolderReader.read("small", folder, 3, 8, new ReadOptions(100_000, 2))
                .inMemory());
    }

    @Test
    void aFileThatBreaksMidRunIsStoodInForAndCounted() throws IOException {
        Path copy = dir.resolve("breaking");
        copyFolder(folder, copy);
        ImageDataset disk = ImageFolderReader.read("d", copy, 3, 16, ReadOptions.streamed(2));
        byte[] next = disk.image(4);
        Path victim = copy.resolve("class0")
                .resolve(Files.list(copy.resolve("class0"))
                        .sorted()
                        .toList()
                        .get(3)
                        .getFileName());
        Files.write(victim, new byte[] {(byte) 0xff, (byte) 0xd8, 1, 2, 3});
        ImageFileStore store = (ImageFileStore) disk.store();
        assertArrayEquals(next, disk.image(3), "the next image stands in for the broken one");
        assertEquals(1, store.brokenFiles().size());
        assertTrue(store.brokenFiles()
                .iterator()
                .next()
                .endsWith(victim.getFileName().toString()));
        ByteBuffer batch = ByteBuffer.allocate(37 * disk.imageBytes());
        disk.copyImages(BatchLoader.permutation(37, 1, 0), 0, 37, batch);
        assertEquals(37 * disk.imageBytes(), batch.position(), "the whole epoch is served");
        assertTrue(store.decodedImages() >= 37);
        assertTrue(store.decodeRatePerThread() > 0);
        // Held in memory, the same folder is refused up front, naming the file.
        DatasetFormatException e = assertThrows(
                DatasetFormatException.class, () -> ImageFolderReader.read("m", copy, 3, 16, ReadOptions.DEFAULT));
        assertTrue(e.getMessage().contains(victim.getFileName().toString()), e.getMessage());
    }

    @Test
    void anImageClaimingTooManyPixelsIsRefusedBeforeDecoding() throws IOException {
        Path bomb = dir.resolve("bomb");
        Files.createDirectories(bomb);
        Files.write(bomb.resolve("a.png"), dev.selfsup.core.testing.TestImages.claimingPng(50_000));
        DatasetFormatException e = assertThrows(
                DatasetFormatException.class, () -> ImageFolderReader.read("b", bomb, 1, 8, ReadOptions.DEFAULT));
        assertTrue(e.getMessage().contains("50000x50000"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ImageFolderReader.read("s", folder, 3, 5000));
    }

    private static void copyFolder(Path from, Path to) throws IOException {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                }
            }
        }
    }
}
