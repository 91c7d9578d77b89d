package dev.selfsup.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.data.ImageDataset;
import io.grpc.Status;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The upload store on real files: what is kept, what is refused, and what a crash leaves. */
class DatasetStoreTest {
    static final DatasetStore.Limits LIMITS =
            new DatasetStore.Limits(3, 1_000_000, 2_000_000, 100, 100_000, 0, ImageCodec.DEFAULT_MAX_PIXELS);

    @TempDir
    Path dir;

    /** A 12x12 grey PNG whose pixels depend on {@code seed}. */
    static byte[] png(int seed) {
        byte[] chw = new byte[12 * 12];
        for (int i = 0; i < chw.length; i++) {
            chw[i] = (byte) (i * 7 + seed * 31);
        }
        return ImageCodec.encodePng(chw, 1, 12, 12);
    }

    static DatasetStore.FileRow header(String split, String label, String name, byte[] bytes) {
        return new DatasetStore.FileRow(split, label, name, bytes.length, "");
    }

    static void put(DatasetStore store, String dataset, String split, String label, String name, byte[] bytes) {
        IncomingFile u = store.begin(dataset, header(split, label, name, bytes));
        u.write(bytes);
        u.finish();
    }

    static Status.Code code(Runnable r) {
        return GrpcErrors.toStatus(assertThrows(Refusal.class, r::run)).getCode();
    }

    @Test
    void uploadSealAndReadAsAnImageFolder() throws IOException {
        DatasetStore store = new DatasetStore(dir, LIMITS);
        store.create("shoes", "two kinds");
        for (int i = 0; i < 6; i++) {
            put(store, "shoes", "train", i % 2 == 0 ? "boot" : "sandal", "img " + i + ".png", png(i));
        }
        put(store, "shoes", "test", "boot", "t0.png", png(100));
        put(store, "shoes", "test", "sandal", "t1.png", png(101));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> store.readyFolder("shoes", "train")), "open");
        DatasetStore.Info info = store.seal("shoes");
        assertEquals(DatasetStore.State.READY, info.state());
        assertEquals(8, info.files());
        assertEquals(
                Map.of("boot", 3L, "sandal", 3L), info.splits().get("train").labels());
        assertEquals(64, info.sha256().length());
        assertEquals(
                Status.Code.FAILED_PRECONDITION,
                code(() -> store.begin("shoes", header("train", "", "x.png", png(1)))),
                "sealed datasets do not change");
        var folder = store.readyFolder("shoes", "train");
        assertEquals(info.sha256(), folder.getValue());
        ImageDataset d = DatasetLoader.load(folder.getKey(), DatasetLoader.Format.IMAGE_FOLDER, "train", 1, 12);
        assertEquals(6, d.size());
        assertEquals(2, d.numClasses());
        assertEquals(Status.Code.NOT_FOUND, code(() -> store.readyFolder("shoes", "val")));

        // A second store on the same folder (a restart) sees the same sealed dataset and lists its files.
        DatasetStore again = new DatasetStore(dir, LIMITS);
        assertEquals(info.sha256(), again.get("shoes").sha256());
        assertEquals(8, again.files("shoes", 0, "").getKey().size());
    }

    @Test
    void pagesOfFilesInOrderOpenAndSealed() {
        DatasetStore store = new DatasetStore(dir, LIMITS);
        store.create("many", "");
        for (int i = 0; i < 25; i++) {
            put(store, "many", "train", "", String.format("f%02d.png", i), png(i));
        }
        for (boolean sealed : new boolean[] {false, true}) {
            if (sealed) {
                store.seal("many");
            }
            List<String> names = new ArrayList<>();
            String token = "";
            int pages = 0;
            do {
                var page = store.files("many", 10, token);
                page.getKey().forEach(r -> names.add(r.name()));
                token = page.getValue();
                pages++;
            } while (!token.isEmpty());
            assertEquals(3, pages);
            assertEquals(25, names.size());
            assertEquals("f00.png", names.get(0));
            assertEquals("f24.png", names.get(24));
        }
    }

    @Test
    void whatACrashLeavesIsCleanedAndTheListIsTheTruth() throws IOException {
        DatasetStore store = new DatasetStore(dir, LIMITS);
        store.create("crash", "");
        put(store, "crash", "train", "a", "kept.png", png(1));
        IncomingFile inFlight = store.begin("crash", header("train", "a", "half.png", png(2)));
        inFlight.write(new byte[10]); // the process dies here
        // A file moved into place whose line was never written (killed between the two).
        Files.write(dir.resolve("crash/images/train/a/unlisted.png"), png(3));

        DatasetStore restarted = new DatasetStore(dir, LIMITS);
        var files = restarted.files("crash", 0, "").getKey();
        assertEquals(
                List.of("kept.png"),
                files.stream().map(DatasetStore.FileRow::name).toList());
        assertFalse(Files.exists(dir.resolve("crash/images/train/a/unlisted.png")));
        try (var partial = Files.list(dir.resolve("crash"))) {
            assertTrue(partial.noneMatch(p -> p.getFileName().toString().equals(".partial")), "partials removed");
        }
        assertEquals(1, restarted.get("crash").files());
    }

    @Test
    void refusedFilesAreNotKept() {
        DatasetStore store = new DatasetStore(dir, LIMITS);
        store.create("bad", "");
        byte[] notImage = "hello, not an image".getBytes();
        IncomingFile u = store.begin("bad", header("train", "", "text.png", notImage));
        u.write(notImage);
        assertEquals(Status.Code.INVALID_ARGUMENT, code(u::finish));

        // A PNG header that claims 100,000 x 100,000 pixels: refused before any pixel is decoded.
        byte[] bomb = png(1);
        ByteBuffer.wrap(bomb, 16, 8).putInt(100_000).putInt(100_000);
        IncomingFile b = store.begin("bad", header("train", "", "bomb.png", bomb));
        b.write(bomb);
        Refusal e = assertThrows(Refusal.class, b::finish);
        assertTrue(e.getMessage().contains("pixels"), e.getMessage());

        byte[] ok = png(2);
        IncomingFile wrongSum =
                store.begin("bad", new DatasetStore.FileRow("train", "", "sum.png", ok.length, "0".repeat(64)));
        wrongSum.write(ok);
        assertEquals(Status.Code.INVALID_ARGUMENT, code(wrongSum::finish));

        IncomingFile tooMany = store.begin("bad", header("train", "", "long.png", ok));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> tooMany.write(new byte[ok.length + 1])));

        for (String name : List.of("../x.png", "a/b.png", ".hidden.png", "x.gif", "", "x".repeat(200) + ".png")) {
            assertEquals(
                    Status.Code.INVALID_ARGUMENT, code(() -> store.begin("bad", header("train", "", name, ok))), name);
        }
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                code(() -> store.begin("bad", header("train", "test", "a.png", ok))),
                "a label may not be a split's name");
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> store.begin("bad", header("val", "", "a.png", ok))));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> store.create("Bad Name", "")));
        assertEquals(0, store.get("bad").files(), "nothing refused was kept");
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> store.seal("bad")), "no train file yet");
    }

    @Test
    void boundsAreQuotas() {
        DatasetStore small = new DatasetStore(
                dir, new DatasetStore.Limits(2, 3_000, 5_000, 3, 2_000, 0, ImageCodec.DEFAULT_MAX_PIXELS));
        small.create("a", "");
        small.create("b", "");
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, code(() -> small.create("c", "")), "max datasets");
        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> small.create("a", "")));
        byte[] img = png(1);
        assertEquals(
                Status.Code.RESOURCE_EXHAUSTED,
                code(() -> small.begin("a", new DatasetStore.FileRow("train", "", "big.png", 2_001, ""))),
                "max file bytes");
        put(small, "a", "train", "", "1.png", img);
        put(small, "a", "train", "", "2.png", img);
        put(small, "a", "train", "", "3.png", img);
        assertEquals(
                Status.Code.RESOURCE_EXHAUSTED,
                code(() -> small.begin("a", header("train", "", "4.png", img))),
                "max files");
        put(small, "a", "train", "", "3.png", img); // replacing a file is not a new one
        assertEquals(3, small.get("a").files());
        long perFile = img.length;
        assertTrue(3 * perFile < 3_000, "the images are small enough for this test: " + perFile);
        assertEquals(
                Status.Code.RESOURCE_EXHAUSTED,
                code(() ->
                        small.begin("a", new DatasetStore.FileRow("train", "", "3.png", 3_000 - 2 * perFile + 1, ""))),
                "max dataset bytes, counting a replaced file once");
        small.delete("a");
        assertEquals(Status.Code.NOT_FOUND, code(() -> small.get("a")));
        small.create("c", "");
        assertFalse(Files.exists(dir.resolve("a")));
    }

    @Test
    void aNearlyFullDiskRefusesBeforeAnyByteIsWritten() {
        // More free space kept than any disk has: every upload is refused, nothing is written.
        DatasetStore full = new DatasetStore(
                dir,
                new DatasetStore.Limits(2, 3_000, 5_000, 3, 2_000, Long.MAX_VALUE / 2, ImageCodec.DEFAULT_MAX_PIXELS));
        full.create("d", "");
        byte[] img = png(1);
        Refusal e = assertThrows(Refusal.class, () -> full.begin("d", header("train", "", "a.png", img)));
        assertEquals(Refusal.Reason.QUOTA, e.reason());
        assertTrue(e.getMessage().contains("selfsup.datasets.min-free-bytes"), e.getMessage());
        assertEquals(0, full.get("d").files());
    }

    @Test
    void aSplitIsAllLabelledOrNone() {
        DatasetStore store = new DatasetStore(dir, LIMITS);
        store.create("mixed", "");
        put(store, "mixed", "train", "cat", "a.png", png(1));
        put(store, "mixed", "train", "", "b.png", png(2));
        Refusal e = assertThrows(Refusal.class, () -> store.seal("mixed"));
        assertEquals(Refusal.Reason.WRONG_STATE, e.reason());
        assertTrue(e.getMessage().contains("1 unlabelled and 1 labelled"), e.getMessage());
    }
}
