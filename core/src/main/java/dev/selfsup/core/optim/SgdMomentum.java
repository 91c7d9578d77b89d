package dev.selfsup.core.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.selfsup.core.engine.Scalars;

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
            g.addi(Scalars.mul(w, weightDecay));
        }
        Scalars.muli(v, momentum).addi(g);
        if (nesterov) {
            w.subi(Scalars.muli(g.add(Scalars.mul(v, momentum)), lr));
        } else {
            w.subi(Scalars.mul(v, lr));
        }
    }
}
