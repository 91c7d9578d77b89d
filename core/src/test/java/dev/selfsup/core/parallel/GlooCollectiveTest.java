package dev.selfsup.core.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gloo's collectives through the shim, two ranks in one JVM: all-reduce, all-gather, broadcast and barrier give
 * every rank the same right values, meeting through a folder and through a real Redis server (Debian's
 * redis-server, started by the test); a rank alone times out instead of waiting forever.
 */
class GlooCollectiveTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gloo() {
        GlooForTests.require();
    }

    /** What each rank ends with after the four collectives. */
    record Seen(float[] sum, float[] gathered, float[] broadcast) {}

    private static Seen collectives(GlooCollective g) {
        int r = g.rank();
        ByteBuffer sum = floats(r + 1f, 10f * (r + 1));
        g.allReduceSum(sum, 2);
        ByteBuffer mine = floats(100f + r);
        ByteBuffer all = ByteBuffer.allocateDirect(4 * g.size()).order(ByteOrder.nativeOrder());
        g.allGather(mine, all, 4);
        ByteBuffer b = floats(r == 1 ? 7f : -1f, r == 1 ? 8f : -1f);
        g.broadcast(b, 8, 1);
        g.barrier();
        return new Seen(read(sum, 2), read(all, g.size()), read(b, 2));
    }

    private List<Seen> twoRanks(Function<Integer, Rendezvous> store) throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            List<Future<Seen>> f = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r;
                f.add(threads.submit(() -> {
                    try (GlooCollective g = GlooCollective.connect(
                            store.apply(rank), rank, 2, "127.0.0.1", Duration.ofSeconds(30), Duration.ofSeconds(10))) {
                        return collectives(g);
                    }
                }));
            }
            List<Seen> out = new ArrayList<>();
            for (Future<Seen> x : f) {
                out.add(x.get(60, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            threads.shutdownNow();
        }
    }

    private static void assertRight(List<Seen> seen) {
        for (Seen s : seen) {
            assertArrayEquals(new float[] {3f, 30f}, s.sum(), "all-reduce sum");
            assertArrayEquals(new float[] {100f, 101f}, s.gathered(), "all-gather in rank order");
            assertArrayEquals(new float[] {7f, 8f}, s.broadcast(), "broadcast from rank 1");
        }
    }

    @Test
    void ranksMeetThroughAFolder() throws Exception {
        assertRight(twoRanks(rank -> Rendezvous.folder(dir.resolve("store"), "folder")));
    }

    @Test
    void ranksMeetThroughRedis() throws Exception {
        Path redis = Path.of("/usr/bin/redis-server");
        assumeTrue(Files.isExecutable(redis), "Debian's redis-server is not installed (CI installs it)");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process server = new ProcessBuilder(
                        redis.toString(),
                        "--port",
                        Integer.toString(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        dir.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("redis.log").toFile())
                .start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                try (Socket ignored = new Socket("127.0.0.1", port)) {
                    break;
                } catch (java.io.IOException notYet) {
                    assertTrue(
                            System.nanoTime() < deadline,
                            "redis-server did not start: " + Files.readString(dir.resolve("redis.log")));
                    Thread.sleep(50);
                }
            }
            String address = "redis://127.0.0.1:" + port;
            assertRight(twoRanks(rank -> Rendezvous.parse(address, "redis-test")));
        } finally {
            server.destroyForcibly();
            server.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRankAloneTimesOutInsteadOfWaiting() {
        long t0 = System.nanoTime();
        CollectiveException e = assertThrows(
                CollectiveException.class,
                () -> GlooCollective.connect(
                        Rendezvous.folder(dir.resolve("alone"), "alone"),
                        0,
                        2,
                        "127.0.0.1",
                        Duration.ofSeconds(2),
                        Duration.ofSeconds(2)));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds < 15, "gave up after " + seconds + " s");
        assertTrue(!e.getMessage().contains(".cc:"), e.getMessage());
        assertEquals(CollectiveException.class, e.getClass());
    }

    private static ByteBuffer floats(float... v) {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * v.length).order(ByteOrder.nativeOrder());
        for (float x : v) {
            b.putFloat(x);
        }
        return b.clear();
    }

    private static float[] read(ByteBuffer b, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = b.getFloat(4 * i);
        }
        return out;
    }
}
