package dev.selfsup.core.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/** SGD with momentum, as PyTorch computes it: {@code v = mu v + (g + wd w); w -= lr v} (Nesterov optional). */
public final class SgdMomentum extends GradientOptimizer {
    private final float momentum;
    private final boolean nesterov;

    public SgdMomentum(float momentum, float weightDecay, float clipNorm, boolean nesterov) {
        super(weightDecay, clipNorm);
        this.momentum = momentum;
        this.nesterov = nesterov;
    }

    @Override
    protected void createState(String name, NDArray weight, NDManager manager) {
        state.put(name + "/momentum", manager.zeros(weight.getShape(), weight.getDataType(), weight.getDevice()));
    }

    @Override
    protected void update(String name, NDArray w, NDArray g, float lr, boolean vector) {
        NDArray v = state.get(name + "/momentum");
        if (weightDecay > 0 && !vector) {
            g.addi(w.mul(weightDecay));
        }
        v.muli(momentum).addi(g);
        if (nesterov) {
            w.subi(g.add(v.mul(momentum)).muli(lr));
        } else {
            w.subi(v.mul(lr));
        }
    }
}
