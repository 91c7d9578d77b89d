package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDManager;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A gallery on real files: what is searchable is what is saved. */
class GalleryTest {
    @TempDir
    Path dir;

    @Test
    void aFailedSaveChangesNothing() throws Exception {
        Path file = dir.resolve("v1.gallery");
        Gallery g = Gallery.open(file, 2);
        g.add(List.of("a"), List.of("cat"), new float[] {1, 0});
        // Tests run as root, for whom permissions do not stop a write: a non-empty folder where the file goes does.
        Files.delete(file);
        Files.createDirectories(file.resolve("blocked"));
        assertThrows(UncheckedIOException.class, () -> g.add(List.of("b"), List.of("dog"), new float[] {0, 1}));
        assertEquals(1, g.size(), "the item that could not be saved is not searchable");
        assertThrows(UncheckedIOException.class, g::clear);
        assertEquals(1, g.size(), "nor is a clear that could not be saved applied");
        Files.delete(file.resolve("blocked"));
        Files.delete(file);
        // The file is the gallery's truth: gone from disk, its entries are gone; the next add starts from nothing.
        g.add(List.of("b"), List.of("dog"), new float[] {0, 1});
        assertEquals(1, g.size());
        assertEquals(1, Gallery.open(file, 2).size(), "memory and disk agree again");
    }

    /**
     * Two replicas serving the model from one store (two galleries on one file): what one adds, the other finds;
     * adds from both at once all land; a clear by one empties the other's searches.
     */
    @Test
    void replicasOnOneStoreShareTheGallery() throws Exception {
        Path file = dir.resolve("v1.gallery");
        Gallery a = Gallery.open(file, 2);
        Gallery b = Gallery.open(file, 2);
        a.add(List.of("x"), List.of("cat"), new float[] {1, 0});
        try (NDManager m = NDManager.newBaseManager()) {
            Gallery.Result[] found = b.search(new float[] {1, 0.1f}, 1, 1, m);
            assertEquals("x", found[0].hits().get(0).id(), "b searches what a added");
            int each = 50;
            ExecutorService pool = Executors.newFixedThreadPool(2);
            List<Future<?>> done = new ArrayList<>();
            for (Gallery g : List.of(a, b)) {
                String who = g == a ? "a" : "b";
                done.add(pool.submit(() -> {
                    for (int i = 0; i < each; i++) {
                        g.add(List.of(who + i), List.of(who), new float[] {1, i});
                    }
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertEquals(1 + 2 * each, Gallery.open(file, 2).size(), "no add was lost");
            assertEquals(1 + 2 * each, a.size());
            assertEquals(1 + 2 * each, b.size());
            b.clear();
            assertEquals(0, a.search(new float[] {1, 0}, 1, 1, m)[0].hits().size(), "a follows b's clear");
        }
    }
}
