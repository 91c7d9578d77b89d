package dev.selfsup.core.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import dev.selfsup.core.engine.Scalars;

/**
 * Adam (Kingma and Ba 2015) with bias correction; with {@code decoupled} it is AdamW (Loshchilov and Hutter
 * 2019), which decays the weights directly instead of adding {@code wd w} to the gradient.
 */
public final class AdamW extends GradientOptimizer {
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final boolean decoupled;
    private NDArray stepCount;
    private long t;

    public AdamW(float beta1, float beta2, float eps, float weightDecay, float clipNorm, boolean decoupled) {
        super(weightDecay, clipNorm);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.decoupled = decoupled;
    }

    @Override
    public void init(Iterable<Pair<String, Parameter>> all, NDManager manager) {
        stepCount = manager.create(new long[] {0L});
        state.put("adam/step", stepCount);
        super.init(all, manager);
    }

    @Override
    protected void createState(String name, NDArray weight, NDManager manager) {
        state.put(name + "/m", manager.zeros(weight.getShape(), weight.getDataType(), weight.getDevice()));
        state.put(name + "/v", manager.zeros(weight.getShape(), weight.getDataType(), weight.getDevice()));
    }

    @Override
    protected void beforeUpdates() {
        t++;
        stepCount.set(new NDIndex(0), t);
    }

    @Override
    public void stateRestored() {
        t = stepCount.getLong(0);
    }

    @Override
    protected void update(String name, NDArray w, NDArray g, float lr, boolean vector) {
        NDArray m = state.get(name + "/m");
        NDArray v = state.get(name + "/v");
        boolean decay = weightDecay > 0 && !vector;
        if (decay && !decoupled) {
            g.addi(Scalars.mul(w, weightDecay));
        }
        Scalars.muli(m, beta1).addi(Scalars.mul(g, 1 - beta1));
        Scalars.muli(v, beta2).addi(Scalars.muli(g.square(), 1 - beta2));
        float c1 = (float) (1 - Math.pow(beta1, t));
        float c2 = (float) (1 - Math.pow(beta2, t));
        if (decay && decoupled) {
            Scalars.muli(w, 1 - lr * weightDecay);
        }
        NDArray denom = Scalars.div(v, c2).sqrt().addi(eps);
        w.subi(Scalars.muli(m.div(denom), lr / c1));
    }
}
