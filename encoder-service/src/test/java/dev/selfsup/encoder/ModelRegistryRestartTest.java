package dev.selfsup.encoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** After a restart the model store is served again: the same versions, the pinned default and the galleries. */
class ModelRegistryRestartTest {
    @TempDir
    Path dir;

    ModelRegistry start() throws Exception {
        EncoderMetrics metrics = new EncoderMetrics();
        metrics.registry = new SimpleMeterRegistry();
        metrics.init();
        ModelLoader loader = new ModelLoader();
        loader.metrics = metrics;
        loader.devicePreference = "cpu";
        loader.maxBatch = 8;
        loader.maxQueueDelay = Duration.ofMillis(1);
        loader.maxQueueImages = 64;
        ModelRegistry r = new ModelRegistry();
        r.metrics = metrics;
        r.loader = loader;
        r.modelDir = dir;
        r.onStart(null);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!r.restored() && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertTrue(r.restored());
        return r;
    }

    Path upload(ModelRegistry r, byte[] bundle) throws Exception {
        Path p = r.newUploadFile();
        Files.write(p, bundle);
        return p;
    }

    @Test
    void servesTheStoreAgainAfterARestart() throws Exception {
        byte[] a = TestBundles.convnet(1, 16, 8, 1, 61);
        byte[] b = TestBundles.convnet(1, 16, 8, 1, 62);
        float[] image = new float[16 * 16];
        for (int i = 0; i < image.length; i++) {
            image[i] = (i % 17) / 17f;
        }
        ModelRegistry first = start();
        assertTrue(!first.hasDefaultModel());
        first.publish("m", upload(first, a), "x", a.length, "run-1");
        first.publish("m", upload(first, b), "y", b.length, "run-2");
        first.setDefault("m", 1);
        ServedModel v1 = first.serving("m", 0);
        v1.gallery()
                .add(
                        List.of("one"),
                        List.of("cat"),
                        v1.embed(image, 1, () -> false).get());
        float[] before = v1.embed(image, 1, () -> false).get();
        first.onStop(null);

        ModelRegistry second = start();
        assertTrue(second.hasDefaultModel());
        assertEquals(
                List.of(1, 2),
                second.list("m").stream().map(v -> v.record().version()).toList());
        ServedModel again = second.serving("m", 0);
        assertEquals(1, again.record().version(), "the pinned default survives");
        assertEquals("run-1", again.record().runId());
        assertEquals(1, again.gallery().size());
        assertArrayEquals(before, again.embed(image, 1, () -> false).get(), 0f);
        // Numbering continues after the highest stored version, even once that one is removed.
        second.unload("m", 2);
        assertEquals(
                3,
                second.publish("m", upload(second, b), "z", b.length, "")
                        .record()
                        .version());
        second.onStop(null);
    }

    @Test
    void replicasSharingAStoreSeeEachOthersVersions() throws Exception {
        byte[] a = TestBundles.convnet(1, 16, 8, 1, 71);
        byte[] b = TestBundles.convnet(1, 16, 8, 1, 72);
        float[] image = new float[16 * 16];
        Arrays.fill(image, 0.3f);
        ModelRegistry one = start();
        ModelRegistry two = start();
        // Publishing on both at once: the store hands out distinct version numbers.
        var pool = Executors.newFixedThreadPool(2);
        var f1 = pool.submit(() -> one.publish("m", upload(one, a), "x", a.length, "run-a"));
        var f2 = pool.submit(() -> two.publish("m", upload(two, b), "y", b.length, "run-b"));
        int v1 = f1.get().record().version();
        int v2 = f2.get().record().version();
        pool.shutdown();
        assertEquals(Set.of(1, 2), Set.of(v1, v2));
        one.syncWithStore();
        two.syncWithStore();
        for (ModelRegistry r : List.of(one, two)) {
            assertEquals(
                    List.of(1, 2),
                    r.list("m").stream().map(v -> v.record().version()).toList());
        }
        assertArrayEquals(
                one.serving("m", v1).embed(image, 1, () -> false).get(),
                two.serving("m", v1).embed(image, 1, () -> false).get(),
                0f,
                "the same bundle on both replicas");
        // A pin and an unload on one replica reach the other at its next look at the store.
        one.setDefault("m", v1);
        two.syncWithStore();
        assertEquals(v1, two.serving("m", 0).record().version());
        one.unload("m", v2);
        two.syncWithStore();
        assertEquals(
                List.of(v1),
                two.list("m").stream().map(v -> v.record().version()).toList());
        assertEquals(
                3, two.publish("m", upload(two, b), "z", b.length, "").record().version(), "never reused");
        one.onStop(null);
        two.onStop(null);
    }

    @Test
    void aBrokenFileIsIsolatedAndEverythingElseServes() throws Exception {
        float[] image = new float[16 * 16];
        Arrays.fill(image, 0.5f);
        ModelRegistry first = start();
        for (String name : List.of("intact", "bad-record", "bad-pin", "bad-gallery")) {
            byte[] bundle = TestBundles.convnet(1, 16, 8, 1, name.hashCode());
            first.publish(name, upload(first, bundle), "x", bundle.length, "run-" + name);
        }
        first.setDefault("bad-pin", 1);
        ServedModel g = first.serving("bad-gallery", 0);
        g.gallery()
                .add(
                        List.of("one"),
                        List.of("cat"),
                        g.embed(image, 1, () -> false).get());
        first.onStop(null);

        Files.writeString(dir.resolve("bad-record/v1.json"), "{not json");
        Files.writeString(dir.resolve("bad-pin/default.json"), "{\"version\": ");
        Path gallery = dir.resolve("bad-gallery/v1.gallery");
        Files.write(gallery, Arrays.copyOf(Files.readAllBytes(gallery), 40));

        ModelRegistry second = start();
        for (String name : List.of("intact", "bad-pin", "bad-gallery")) {
            assertEquals(
                    ModelRegistry.State.READY,
                    second.list(name).get(0).state(),
                    name + " serves: a broken file elsewhere does not stop it");
            second.serving(name, 0).embed(image, 1, () -> false).get();
        }
        ModelRegistry.Version broken = second.list("bad-record").get(0);
        assertEquals(ModelRegistry.State.FAILED, broken.state(), "the version with the broken record says so");
        assertTrue(broken.error().contains("v1.json cannot be read"), broken.error());
        assertEquals(0, second.serving("bad-gallery", 0).gallery().size(), "a broken gallery loses the gallery");
        assertTrue(Files.exists(dir.resolve("bad-gallery/v1.gallery.broken")), "and is kept aside");
        double counted = second.metrics.registry.find("selfsup.encoder.broken.files").counters().stream()
                .mapToDouble(c -> c.count())
                .sum();
        assertEquals(3, counted, 0.0, "record, pin and gallery are counted");
        second.syncWithStore();
        assertEquals(
                ModelRegistry.State.FAILED, second.list("bad-record").get(0).state(), "still listed");
        second.onStop(null);
    }
}
