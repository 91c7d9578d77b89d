package dev.selfsup.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

/** Bfloat16 regions: what they change, what they leave, and that gradients reach float32 weights. */
class Bfloat16Test {
    @Test
    void aRegionComputesConvolutionsInBfloat16AndGradientsReachFloat32Weights() {
        Devices.choose("cpu");
        assertNull(Bfloat16.unavailableReason(), "the shim must be built and load in the tests");
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Engine.getInstance().setRandomSeed(7);
            NDArray x = m.randomNormal(new Shape(4, 8, 10, 10));
            NDArray w = m.randomNormal(new Shape(16, 8, 3, 3));
            w.setRequiresGradient(true);
            NDArray exact;
            float[] exactGrad;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                exact = conv(x, w);
                gc.backward(exact.sum());
            }
            exactGrad = w.getGradient().toFloatArray();
            NDArray w2 = w.duplicate();
            w2.setRequiresGradient(true);
            NDArray mixed;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray inside;
                try (Bfloat16.Region r = Bfloat16.enter(Device.cpu())) {
                    assertTrue(Bfloat16.active(Device.cpu()));
                    inside = conv(x, w2);
                }
                assertNotEquals(DataType.FLOAT32, inside.getDataType(), "the convolution ran in bfloat16");
                mixed = Bfloat16.toFloat32(inside);
                gc.backward(mixed.sum());
            }
            assertTrue(!Bfloat16.active(Device.cpu()), "closing the region restores float32");
            assertEquals(DataType.FLOAT32, w2.getGradient().getDataType());
            double err = relative(mixed.toFloatArray(), exact.toFloatArray());
            double gradErr = relative(w2.getGradient().toFloatArray(), exactGrad);
            assertTrue(err > 0 && err < 2e-2, "forward within bfloat16's precision, not exact: " + err);
            assertTrue(gradErr > 0 && gradErr < 2e-2, "weight gradient within bfloat16's precision: " + gradErr);
            NDArray after = conv(x, w);
            assertEquals(DataType.FLOAT32, after.getDataType());
            assertEquals(0, relative(after.toFloatArray(), exact.toFloatArray()), "outside a region: float32 again");
        }
    }

    private static NDArray conv(NDArray x, NDArray w) {
        return Conv2d.conv2d(x, w, null, new Shape(1, 1), new Shape(1, 1), new Shape(1, 1))
                .head();
    }

    private static double relative(float[] a, float[] b) {
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return diff / scale;
    }
}
