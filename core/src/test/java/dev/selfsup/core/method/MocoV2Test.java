package dev.selfsup.core.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.model.BackboneSpec;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The momentum update and the queue of MoCo v2, checked value by value. */
class MocoV2Test {
    static NDManager m;

    @BeforeAll
    static void up() {
        m = NDManager.newBaseManager();
    }

    @AfterAll
    static void down() {
        m.close();
    }

    static MocoV2 moco(int queue, float momentum) {
        BackboneSpec spec = new BackboneSpec("small-convnet", 4, 1, 1, 8, new float[] {0.5f}, new float[] {0.25f});
        MocoV2 moco = new MocoV2(spec, AugmentationPipeline.contrastive(1, 8, 0.5, 0.5), 8, 3, queue, momentum, 0.2f);
        moco.initialize(m, new Shape(1, 8, 8));
        return moco;
    }

    @Test
    void keyEncoderStartsAsCopyAndFollowsByEma() {
        MocoV2 moco = moco(6, 0.9f);
        var q = moco.trainable().getParameters();
        var k = moco.keyEncoder().getParameters();
        assertEquals(q.size(), k.size());
        for (int i = 0; i < q.size(); i++) {
            assertArrayEquals(
                    q.get(i).getValue().getArray().toFloatArray(),
                    k.get(i).getValue().getArray().toFloatArray());
        }
        // Move the query weights by +1 everywhere: the keys must move by (1 - m) = 0.1.
        Parameter w = q.get(0).getValue();
        float[] before = k.get(0).getValue().getArray().toFloatArray();
        w.getArray().addi(1f);
        moco.momentumUpdate();
        float[] after = k.get(0).getValue().getArray().toFloatArray();
        for (int i = 0; i < before.length; i++) {
            assertEquals(before[i] + 0.1f, after[i], 1e-6);
        }
        // Key parameters get no gradient.
        for (var p : k) {
            assertEquals(false, p.getValue().requiresGradient());
        }
    }

    @Test
    void queueIsFifoRingBufferThatWraps() {
        MocoV2 moco = moco(5, 0.99f);
        NDArray a = m.create(new float[] {1, 0, 0, 0, 1, 0}, new Shape(2, 3));
        NDArray b = m.create(new float[] {0, 0, 1, 1, 0, 0, 0, 1, 0}, new Shape(3, 3));
        NDArray c = m.create(new float[] {0, 0, -1, -1, 0, 0}, new Shape(2, 3));
        moco.enqueue(a); // rows 0-1
        moco.enqueue(b); // rows 2-4, pointer wraps to 0
        moco.enqueue(c); // overwrites rows 0-1, the oldest
        float[] q = moco.queue().toFloatArray();
        float[] expected = {0, 0, -1, -1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0};
        assertArrayEquals(expected, q);
        assertEquals(2L, moco.state().get("queue_pointer").getLong(0));
        List<String> names = moco.state().keySet().stream().toList();
        assertEquals(true, names.contains("queue"));
    }

    @Test
    void initialQueueRowsAreUnitNorm() {
        MocoV2 moco = moco(16, 0.99f);
        float[] norms = moco.queue().norm(new int[] {1}).toFloatArray();
        for (float n : norms) {
            assertEquals(1f, n, 1e-5);
        }
    }
}
