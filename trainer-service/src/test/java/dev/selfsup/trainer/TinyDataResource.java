package dev.selfsup.trainer;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/**
 * A data root made for the test: "tiny", an IDX dataset of 16x16 grey images in 4 classes (a bright square in
 * one of the four quadrants), 256 train and 64 test images; and a link "escape" that points out of the root.
 */
public class TinyDataResource implements QuarkusTestResourceLifecycleManager {
    static Path root;
    static Path var;

    @Override
    public Map<String, String> start() {
        try {
            root = Files.createTempDirectory("selfsup-data");
            var = Files.createTempDirectory("selfsup-var");
            Path tiny = Files.createDirectories(root.resolve("tiny"));
            write(tiny, "train", 256, 1);
            write(tiny, "t10k", 64, 2);
            Path outside = Files.createTempDirectory("selfsup-outside");
            write(Files.createDirectories(outside.resolve("secret")), "train", 32, 3);
            Files.createSymbolicLink(root.resolve("escape"), outside.resolve("secret"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return Map.of(
                "selfsup.data-root",
                root.toString(),
                "selfsup.var-dir",
                var.toString(),
                "selfsup.trainer.progress-every-steps",
                "2",
                "selfsup.device",
                "cpu");
    }

    static void write(Path dir, String prefix, int n, long seed) throws IOException {
        int s = 16;
        Random r = new Random(seed);
        ByteArrayOutputStream img = new ByteArrayOutputStream();
        DataOutputStream io = new DataOutputStream(img);
        io.writeInt(0x803);
        io.writeInt(n);
        io.writeInt(s);
        io.writeInt(s);
        ByteArrayOutputStream lab = new ByteArrayOutputStream();
        DataOutputStream lo = new DataOutputStream(lab);
        lo.writeInt(0x801);
        lo.writeInt(n);
        for (int i = 0; i < n; i++) {
            int c = i % 4;
            lo.write(c);
            int y0 = (c / 2) * 8 + r.nextInt(3);
            int x0 = (c % 2) * 8 + r.nextInt(3);
            for (int y = 0; y < s; y++) {
                for (int x = 0; x < s; x++) {
                    boolean on = y >= y0 && y < y0 + 5 && x >= x0 && x < x0 + 5;
                    io.write(on ? 180 + r.nextInt(70) : r.nextInt(50));
                }
            }
        }
        Files.write(dir.resolve(prefix + "-images-idx3-ubyte"), img.toByteArray());
        Files.write(dir.resolve(prefix + "-labels-idx1-ubyte"), lab.toByteArray());
    }

    @Override
    public void stop() {
        // temp folders are left for inspection; they are small
    }
}
