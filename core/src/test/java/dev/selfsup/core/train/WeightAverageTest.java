package dev.selfsup.core.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The average of the encoder's weights against the formula, computed here in plain Java. */
class WeightAverageTest {
    private static final BackboneSpec SPEC =
            new BackboneSpec(BackboneSpec.SMALL_CONVNET, 4, 1, 1, 8, new float[] {0.5f}, new float[] {0.25f});

    @Test
    void followsTheEncoderAsAnExponentialAverageWithARampedDecay() {
        try (NDManager m = NDManager.newBaseManager()) {
            Block encoder = Backbones.build(SPEC);
            encoder.initialize(m, DataType.FLOAT32, new Shape(2, 1, 8, 8));
            WeightAverage average = new WeightAverage(encoder, SPEC, new Shape(1, 8, 8), m, 0.99f);
            List<float[]> expected = arrays(encoder);
            assertEquals(expected.size(), average.state().size(), "every parameter, running statistics included");
            assertArraysEqual(expected, arrays(average.encoder()), "starts as a copy");
            assertEquals(0.1, average.decayAt(0), 1e-9);
            assertEquals(0.99, average.decayAt(100_000), 1e-6);
            for (long t = 0; t < 3; t++) {
                // The encoder moves; the average follows by d = min(0.99, (1 + t) / (10 + t)).
                for (var p : encoder.getParameters()) {
                    NDArray a = p.getValue().getArray();
                    a.addi(a.getManager().randomNormal(a.getShape()));
                }
                double d = Math.min(0.99, (1.0 + t) / (10.0 + t));
                List<float[]> now = arrays(encoder);
                for (int i = 0; i < expected.size(); i++) {
                    float[] e = expected.get(i);
                    for (int j = 0; j < e.length; j++) {
                        e[j] = (float) (d * e[j] + (1 - d) * now.get(i)[j]);
                    }
                }
                average.update(t);
            }
            assertArraysEqual(expected, arrays(average.encoder()), "after three updates");
            assertFalse(
                    java.util.Arrays.equals(
                            arrays(encoder).get(0), arrays(average.encoder()).get(0)),
                    "the average is not the encoder");
        }
    }

    private static List<float[]> arrays(Block b) {
        List<float[]> out = new ArrayList<>();
        b.getParameters().forEach(p -> out.add(p.getValue().getArray().toFloatArray()));
        return out;
    }

    private static void assertArraysEqual(List<float[]> a, List<float[]> b, String what) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i), b.get(i), 1e-5f, what + ", array " + i);
        }
    }
}
