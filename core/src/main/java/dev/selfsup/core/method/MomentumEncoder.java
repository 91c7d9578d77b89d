package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import dev.selfsup.core.engine.Scalars;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A network that follows another as an exponential moving average of its weights and gets no gradient: MoCo's key
 * encoder, BYOL's target. The follower's parameters are paired in order with the first parameters of the online
 * block, which must begin with the same layers.
 */
final class MomentumEncoder {
    private final Block follower;
    private final List<Pair<Parameter, Parameter>> pairs = new ArrayList<>();

    /**
     * Pairs the follower's parameters with the online block's and starts the follower as a copy. Both blocks must
     * be initialised; the follower is frozen here.
     */
    MomentumEncoder(Block online, Block follower) {
        this.follower = follower;
        follower.freezeParameters(true);
        var op = online.getParameters();
        var fp = follower.getParameters();
        if (fp.size() > op.size()) {
            throw new IllegalArgumentException("the follower has more parameters than the online network");
        }
        for (int i = 0; i < fp.size(); i++) {
            Parameter a = op.get(i).getValue();
            Parameter b = fp.get(i).getValue();
            if (!a.getArray().getShape().equals(b.getArray().getShape())) {
                throw new IllegalArgumentException("parameter " + i + " differs in shape: "
                        + op.get(i).getKey() + " " + a.getArray().getShape() + ", "
                        + fp.get(i).getKey() + " " + b.getArray().getShape());
            }
            // An engine-side copy (k * 0 + q): no Java buffer stays behind the follower's weights.
            Scalars.muli(b.getArray(), 0).addi(a.getArray());
            pairs.add(new Pair<>(a, b));
        }
    }

    /**
     * follower = m * follower + (1 - m) * online for every learned parameter. Batch-norm running statistics are not
     * averaged: the follower's own forward passes keep them, as in the reference implementations.
     */
    void update(double momentum) {
        for (Pair<Parameter, Parameter> p : pairs) {
            Parameter.Type t = p.getKey().getType();
            if (t == Parameter.Type.RUNNING_MEAN || t == Parameter.Type.RUNNING_VAR) {
                continue;
            }
            NDArray q = p.getKey().getArray();
            NDArray k = p.getValue().getArray();
            try (NDArray scaled = Scalars.mul(q, 1 - momentum)) {
                Scalars.muli(k, momentum).addi(scaled);
            }
        }
    }

    /**
     * The momentum after step {@code step} of {@code totalSteps} when it rises from {@code base} to 1 along a cosine
     * (BYOL, DINO): 1 - (1 - base) (cos(pi k / K) + 1) / 2.
     */
    static double cosineMomentum(double base, long step, long totalSteps) {
        double progress = Math.min(1.0, (double) (step + 1) / Math.max(1, totalSteps));
        return 1 - (1 - base) * (Math.cos(Math.PI * progress) + 1) / 2;
    }

    /** The follower's arrays by name, under {@code prefix}, for checkpoints. */
    Map<String, NDArray> state(String prefix) {
        Map<String, NDArray> s = new LinkedHashMap<>();
        for (var p : follower.getParameters()) {
            s.put(prefix + p.getKey(), p.getValue().getArray());
        }
        return s;
    }
}
