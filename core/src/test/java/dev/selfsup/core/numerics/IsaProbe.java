package dev.selfsup.core.numerics;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;

/**
 * Run in a child JVM by {@link CpuIsaGuardTest}: applies the policy as every process does, runs one convolution
 * (oneDNN picks its instruction set then) and prints the decision. oneDNN's own verbose line, turned on by the
 * test through {@code ONEDNN_VERBOSE=1}, says which instruction set it really used.
 */
public final class IsaProbe {
    private IsaProbe() {}

    public static void main(String[] args) {
        CpuIsaGuard.IsaDecision d = CpuIsaGuard.apply();
        try (NDManager m = NDManager.newBaseManager()) {
            var x = m.randomNormal(new Shape(2, 16, 8, 8));
            var w = m.randomNormal(new Shape(16, 16, 3, 3));
            Conv2d.conv2d(x, w, null, new Shape(1, 1), new Shape(1, 1), new Shape(1, 1))
                    .head()
                    .sum()
                    .getFloat();
        }
        System.out.println("decision policy=" + d.policy() + " cap=" + d.cap() + " early=" + d.appliedBeforeEngine());
        IsaTrial.Verdict v = CpuIsaGuard.verdict();
        if (v != null) {
            System.out.println("verdict cached=" + v.cached() + " reason=" + v.reason());
        }
    }
}
