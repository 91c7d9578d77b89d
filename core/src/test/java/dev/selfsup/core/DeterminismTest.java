package dev.selfsup.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The same seed gives the same bits: two runs of 20 steps in one JVM report identical losses at every step and
 * end with identical parameters. A CPU whose kernels are irreproducible (docs/numerics.md) fails here.
 */
class DeterminismTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"simclr", "rotation"})
    void sameSeedGivesBitIdenticalLossesOverTwentySteps(String method) throws IOException {
        ImageDataset data = PretrainerTest.tiny();
        float[][] st = Pretrainer.channelStats(data);
        List<Double> first = new ArrayList<>();
        List<Double> second = new ArrayList<>();
        List<float[]> paramsFirst = run(method, data, st, dir.resolve("a"), first);
        List<float[]> paramsSecond = run(method, data, st, dir.resolve("b"), second);
        assertEquals(20, first.size());
        assertTrue(first.stream().allMatch(Double::isFinite), first.toString());
        for (int i = 0; i < first.size(); i++) {
            assertEquals(
                    Double.doubleToLongBits(first.get(i)),
                    Double.doubleToLongBits(second.get(i)),
                    "loss at step " + (i + 1) + ": " + first.get(i) + " then " + second.get(i));
        }
        assertEquals(paramsFirst.size(), paramsSecond.size());
        for (int i = 0; i < paramsFirst.size(); i++) {
            assertTrue(Arrays.equals(paramsFirst.get(i), paramsSecond.get(i)), "parameter array " + i);
        }
    }

    private static List<float[]> run(String method, ImageDataset data, float[][] st, Path ckpt, List<Double> losses)
            throws IOException {
        // Width 16: the convolutions have 16, 32 and 64 channels, the blocked layouts of the vector kernels.
        PretrainConfig c = PretrainerTest.config(method, ckpt).toBuilder()
                .width(16)
                .steps(20)
                .logEverySteps(1)
                .checkpointEverySteps(100)
                .build();
        try (Pretrainer t = new Pretrainer(c, data, st[0], st[1])) {
            t.addListener(new PretrainListener() {
                @Override
                public void onProgress(Progress p) {
                    losses.add(p.loss());
                }
            });
            assertEquals(PretrainResult.Status.FINISHED, t.run().status());
            return PretrainerTest.params(t);
        }
    }
}
