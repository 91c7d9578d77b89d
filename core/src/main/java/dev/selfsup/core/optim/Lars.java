package dev.selfsup.core.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import dev.selfsup.core.engine.Scalars;

/**
 * LARS (You et al. 2017) as SimCLR uses it: SGD with momentum where each weight matrix's update is scaled by the
 * trust ratio {@code eta ||w|| / ||g + wd w||}. Biases and batch-norm parameters are updated as plain SGD with
 * momentum and no weight decay. The ratio is computed on the device: no host round-trip.
 */
public final class Lars extends GradientOptimizer {
    private final float momentum;
    private final float eta;

    public Lars(float momentum, float weightDecay, float clipNorm, float eta) {
        super(weightDecay, clipNorm);
        this.momentum = momentum;
        this.eta = eta;
    }

    @Override
    protected void createState(String name, NDArray weight, NDManager manager) {
        state.put(name + "/momentum", manager.zeros(weight.getShape(), weight.getDataType(), weight.getDevice()));
    }

    @Override
    protected void update(String name, NDArray w, NDArray g, float lr, boolean vector) {
        NDArray v = state.get(name + "/momentum");
        if (!vector) {
            if (weightDecay > 0) {
                g.addi(Scalars.mul(w, weightDecay));
            }
            NDArray wn = w.norm();
            NDArray gn = g.norm();
            NDArray ratio = Scalars.mul(wn, eta).divi(gn.add(1e-12f));
            NDArray ok = wn.gt(0f).logicalAnd(gn.gt(0f));
            g.muli(NDArrays.where(ok, ratio, ratio.onesLike()));
        }
        Scalars.muli(v, momentum).addi(g);
        w.subi(Scalars.mul(v, lr));
    }
}
