package dev.selfsup.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The IDX, CIFAR and image-folder readers on files the test writes, whole and damaged. */
class DataReadersTest {
    @TempDir
    Path dir;

    static byte[] idxImages(int n, int h, int w) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        out.writeInt(0x00000803);
        out.writeInt(n);
        out.writeInt(h);
        out.writeInt(w);
        for (int i = 0; i < n * h * w; i++) {
            out.write(i % 251);
        }
        return b.toByteArray();
    }

    static byte[] idxLabels(int n) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        out.writeInt(0x00000801);
        out.writeInt(n);
        for (int i = 0; i < n; i++) {
            out.write(i % 3);
        }
        return b.toByteArray();
    }

    static Path gz(Path p, byte[] data) throws IOException {
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(p))) {
            o.write(data);
        }
        return p;
    }

    @Test
    void readsPlainAndGzippedIdx() throws IOException {
        Path img = Files.write(dir.resolve("img"), idxImages(5, 4, 3));
        Path lab = gz(dir.resolve("lab.gz"), idxLabels(5));
        ImageDataset d = IdxReader.read("t", img, lab, List.of());
        assertEquals(5, d.size());
        assertEquals(1, d.channels());
        assertEquals(4, d.height());
        assertEquals(3, d.width());
        assertEquals(3, d.numClasses());
        assertEquals(2, d.label(2));
        assertEquals((1 * 12 + 2 * 3 + 1) % 251, d.pixel(1, 0, 2, 1));
        ImageDataset g = IdxReader.read("t", gz(dir.resolve("img.gz"), idxImages(5, 4, 3)), lab, List.of());
        assertEquals(d.fingerprint(), g.fingerprint());
    }

    @Test
    void truncatedIdxNamesTheFile() throws IOException {
        byte[] full = idxImages(5, 4, 3);
        Path img = Files.write(dir.resolve("short-images"), Arrays.copyOf(full, full.length - 7));
        DatasetFormatException e =
                assertThrows(DatasetFormatException.class, () -> IdxReader.read("t", img, null, List.of()));
        assertTrue(e.getMessage().contains("short-images") && e.getMessage().contains("truncated"), e.getMessage());
        Path gzShort = dir.resolve("short.gz");
        byte[] zipped = Files.readAllBytes(gz(dir.resolve("full.gz"), full));
        Files.write(gzShort, Arrays.copyOf(zipped, zipped.length / 2));
        DatasetFormatException e2 =
                assertThrows(DatasetFormatException.class, () -> IdxReader.read("t", gzShort, null, List.of()));
        assertTrue(e2.getMessage().contains("short.gz"), e2.getMessage());
        Path labels = Files.write(dir.resolve("labels"), idxLabels(4));
        Path ok = Files.write(dir.resolve("ok"), full);
        DatasetFormatException e3 =
                assertThrows(DatasetFormatException.class, () -> IdxReader.read("t", ok, labels, List.of()));
        assertTrue(e3.getMessage().contains("4 labels"), e3.getMessage());
        Path notIdx = Files.writeString(dir.resolve("readme.txt"), "hello world, not idx");
        assertThrows(DatasetFormatException.class, () -> IdxReader.read("t", notIdx, null, List.of()));
    }

    @Test
    void anIdxHeaderThatClaimsGigabytesAllocatesNothingOfThem() throws IOException {
        // 40,000 x 224 x 224 = 2.0 GB announced, 10 bytes present; plain and gzipped.
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        out.writeInt(0x00000803);
        out.writeInt(40_000);
        out.writeInt(224);
        out.writeInt(224);
        out.write(new byte[10]);
        Path plain = Files.write(dir.resolve("claims-plain"), b.toByteArray());
        Path zipped = gz(dir.resolve("claims.gz"), b.toByteArray());
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        for (Path p : List.of(plain, zipped)) {
            long before = threads.getCurrentThreadAllocatedBytes();
            DatasetFormatException e =
                    assertThrows(DatasetFormatException.class, () -> IdxReader.read("t", p, null, List.of()));
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());
            assertTrue(allocated < 64L << 20, p.getFileName() + ": allocated " + allocated + " bytes");
        }
        // A file that is not IDX: refused without echoing its bytes.
        Path text = Files.writeString(dir.resolve("secret.txt"), "password=hunter2");
        DatasetFormatException e =
                assertThrows(DatasetFormatException.class, () -> IdxReader.read("t", text, null, List.of()));
        assertFalse(e.getMessage().contains("0x70617373"), e.getMessage());
        assertTrue(e.getMessage().contains("not an unsigned-byte IDX file"), e.getMessage());
    }

    static byte[] cifar(int n, int labelBytes) {
        int rec = labelBytes + 3072;
        byte[] b = new byte[n * rec];
        for (int i = 0; i < n; i++) {
            b[i * rec + labelBytes - 1] = (byte) (i % 10);
            b[i * rec + labelBytes] = (byte) (100 + i); // first red pixel
            b[i * rec + labelBytes + 1024] = (byte) (50 + i); // first green pixel
        }
        return b;
    }

    @Test
    void readsCifarBinaryAndRejectsTruncated() throws IOException {
        Path a = Files.write(dir.resolve("data_batch_1.bin"), cifar(3, 1));
        Path b = Files.write(dir.resolve("data_batch_2.bin"), cifar(2, 1));
        ImageDataset d = CifarBinaryReader.read("c10", List.of(a, b), CifarBinaryReader.Variant.CIFAR10, List.of());
        assertEquals(5, d.size());
        assertEquals(3, d.channels());
        assertEquals(2, d.label(2));
        assertEquals(1, d.label(4));
        assertEquals(101, d.pixel(1, 0, 0, 0));
        assertEquals(51, d.pixel(1, 1, 0, 0));
        Path c100 = Files.write(dir.resolve("train.bin"), cifar(2, 2));
        assertEquals(
                1,
                CifarBinaryReader.read("c100", List.of(c100), CifarBinaryReader.Variant.CIFAR100, List.of())
                        .label(1));
        Path cut = Files.write(dir.resolve("cut.bin"), Arrays.copyOf(cifar(2, 1), 3073 + 100));
        DatasetFormatException e = assertThrows(
                DatasetFormatException.class,
                () -> CifarBinaryReader.read("c", List.of(cut), CifarBinaryReader.Variant.CIFAR10, List.of()));
        assertTrue(e.getMessage().contains("cut.bin"), e.getMessage());
    }

    static void png(Path p, int rgb, String format) throws IOException {
        BufferedImage img = new BufferedImage(10, 6, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 6; y++) {
            for (int x = 0; x < 10; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        Files.createDirectories(p.getParent());
        ImageIO.write(img, format, p.toFile());
    }

    @Test
    void linksOutOfTheFolderAreRefused() throws IOException {
        png(dir.resolve("outside/secret.png"), 0x00ff00, "png");
        png(dir.resolve("linked/cat/a.png"), 0xff0000, "png");
        Files.createSymbolicLink(dir.resolve("linked/cat/b.png"), dir.resolve("outside/secret.png"));
        var e = assertThrows(
                DatasetFormatException.class, () -> ImageFolderReader.read("linked", dir.resolve("linked"), 3, 8));
        assertTrue(e.getMessage().contains("'cat/b.png' is a link that leads out"), e.getMessage());
        // A class folder that is such a link too.
        png(dir.resolve("linked-dir/cat/a.png"), 0xff0000, "png");
        Files.createSymbolicLink(dir.resolve("linked-dir/dog"), dir.resolve("outside"));
        e = assertThrows(
                DatasetFormatException.class,
                () -> ImageFolderReader.read("linked-dir", dir.resolve("linked-dir"), 3, 8));
        assertTrue(e.getMessage().contains("'dog' is a link that leads out"), e.getMessage());
        // A link that stays inside the folder is fine.
        png(dir.resolve("inside/cat/a.png"), 0xff0000, "png");
        Files.createDirectories(dir.resolve("inside/dog"));
        Files.createSymbolicLink(dir.resolve("inside/dog/a.png"), dir.resolve("inside/cat/a.png"));
        assertEquals(
                2, ImageFolderReader.read("inside", dir.resolve("inside"), 3, 8).size());
    }

    @Test
    void readsLabelledAndUnlabelledFolders() throws IOException {
        png(dir.resolve("set/cat/a.png"), 0xff0000, "png");
        png(dir.resolve("set/cat/b.jpg"), 0xff0000, "jpg");
        png(dir.resolve("set/dog/c.png"), 0x0000ff, "png");
        Files.writeString(dir.resolve("set/dog/notes.txt"), "ignored");
        ImageDataset d = ImageFolderReader.read("f", dir.resolve("set"), 3, 8);
        assertEquals(3, d.size());
        assertEquals(List.of("cat", "dog"), d.classNames());
        assertEquals(1, d.label(2));
        assertEquals(255, d.pixel(0, 0, 4, 4));
        assertEquals(0, d.pixel(0, 2, 4, 4));
        assertTrue(d.pixel(1, 0, 4, 4) > 240, "JPEG red"); // lossy, close to 255
        assertEquals(255, d.pixel(2, 2, 4, 4));
        ImageDataset grey = ImageFolderReader.read("f", dir.resolve("set"), 1, 8);
        assertEquals(Math.round(255 * 0.299), grey.pixel(0, 0, 0, 0), 1);
        png(dir.resolve("flat/x.png"), 0x00ff00, "png");
        png(dir.resolve("flat/y.png"), 0x00ff00, "png");
        ImageDataset u = ImageFolderReader.read("u", dir.resolve("flat"), 3, 4);
        assertFalse(u.hasLabels());
        assertEquals(2, u.size());
    }

    @Test
    void corruptImageNamesTheFile() throws IOException {
        Files.createDirectories(dir.resolve("bad/cls"));
        Files.write(dir.resolve("bad/cls/broken.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        DatasetFormatException e =
                assertThrows(DatasetFormatException.class, () -> ImageFolderReader.read("b", dir.resolve("bad"), 1, 8));
        assertTrue(e.getMessage().contains("broken.png"), e.getMessage());
        Files.createDirectories(dir.resolve("empty"));
        assertThrows(DatasetFormatException.class, () -> ImageFolderReader.read("e", dir.resolve("empty"), 1, 8));
    }
}
