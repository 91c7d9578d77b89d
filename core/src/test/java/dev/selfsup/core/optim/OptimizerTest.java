package dev.selfsup.core.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.util.Pair;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Optimizer updates and the schedule against values computed by hand. */
class OptimizerTest {
    static NDManager m;

    @BeforeAll
    static void up() {
        m = NDManager.newBaseManager();
    }

    @AfterAll
    static void down() {
        m.close();
    }

    /** A 2x1 weight w with loss sum(w * c): its gradient is c. */
    static Parameter weight(float a, float b) {
        Parameter p =
                Parameter.builder().setName("w").setType(Parameter.Type.WEIGHT).build();
        p.setArray(m.create(new float[] {a, b}, new Shape(2, 1)));
        p.getArray().setRequiresGradient(true);
        return p;
    }

    static void backward(Parameter p, float ca, float cb) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(p.getArray()
                    .mul(m.create(new float[] {ca, cb}, new Shape(2, 1)))
                    .sum());
        }
    }

    @Test
    void sgdMomentumMatchesPytorchFormula() {
        Parameter p = weight(1f, 2f);
        GradientOptimizer opt = new SgdMomentum(0.9f, 0.1f, 0f, false);
        opt.init(List.of(new Pair<>("w", p)), m);
        backward(p, 1f, -1f);
        opt.step(0.5f);
        // g = c + wd w = (1.1, -0.8); v = g; w -= 0.5 v
        float[] w1 = p.getArray().toFloatArray();
        assertEquals(1f - 0.5f * 1.1f, w1[0], 1e-6);
        assertEquals(2f + 0.5f * 0.8f, w1[1], 1e-6);
        // The gradient was zeroed: a second backward gives c again, not 2c.
        backward(p, 1f, -1f);
        assertEquals(1f, p.getArray().getGradient().toFloatArray()[0], 1e-6);
        opt.step(0.5f);
        float g0 = 1f + 0.1f * w1[0];
        float v0 = 0.9f * 1.1f + g0;
        assertEquals(w1[0] - 0.5f * v0, p.getArray().toFloatArray()[0], 1e-6);
    }

    @Test
    void larsScalesByTrustRatio() {
        Parameter p = weight(3f, 4f); // ||w|| = 5
        GradientOptimizer opt = new Lars(0f, 0f, 0f, 0.001f);
        opt.init(List.of(new Pair<>("w", p)), m);
        backward(p, 0.6f, 0.8f); // ||g|| = 1
        opt.step(1f);
        // update = lr * eta * ||w|| / ||g|| * g = 0.005 * g
        float[] w = p.getArray().toFloatArray();
        assertEquals(3f - 0.005f * 0.6f, w[0], 1e-6);
        assertEquals(4f - 0.005f * 0.8f, w[1], 1e-6);
    }

    @Test
    void adamFirstStepIsLearningRateTimesSign() {
        Parameter p = weight(1f, 1f);
        GradientOptimizer opt = new AdamW(0.9f, 0.999f, 1e-8f, 0f, 0f, true);
        opt.init(List.of(new Pair<>("w", p)), m);
        backward(p, 3f, -0.5f);
        opt.step(0.01f);
        float[] w = p.getArray().toFloatArray();
        assertEquals(0.99f, w[0], 1e-5);
        assertEquals(1.01f, w[1], 1e-5);
        assertEquals(1L, opt.state().get("adam/step").getLong(0));
    }

    @Test
    void clippingBoundsTheGlobalNorm() {
        Parameter p = weight(0f, 0f);
        GradientOptimizer opt = new SgdMomentum(0f, 0f, 1f, false);
        opt.init(List.of(new Pair<>("w", p)), m);
        backward(p, 30f, 40f); // norm 50, clipped to 1
        opt.step(1f);
        float[] w = p.getArray().toFloatArray();
        assertEquals(-0.6f, w[0], 1e-5);
        assertEquals(-0.8f, w[1], 1e-5);
    }

    @Test
    void warmupThenCosine() {
        LearningRateSchedule s = new LearningRateSchedule(1f, 10, 110, 0f);
        assertEquals(0.1f, s.at(0), 1e-6);
        assertEquals(1f, s.at(9), 1e-6);
        assertEquals(1f, s.at(10), 1e-6);
        assertEquals(0.5f, s.at(60), 1e-6);
        assertEquals(0f, s.at(110), 1e-6);
    }
}
