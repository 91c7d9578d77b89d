package dev.selfsup.core.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.Pair;
import dev.selfsup.core.engine.Scalars;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Updates parameters in place from their gradients, keeping its state (momentum buffers, moments) in named
 * arrays that a checkpoint saves and restores, so a resumed run continues exactly.
 *
 * <p>DJL's own optimizers keep their state private; these expose it. After an update the gradients are zeroed:
 * PyTorch accumulates them otherwise. Biases and batch-norm parameters (one-dimensional) get no weight decay and,
 * in LARS, no trust ratio, as in SimCLR's and BYOL's reference code.
 */
public abstract class GradientOptimizer {
    protected final List<Pair<String, Parameter>> params = new ArrayList<>();
    protected final Map<String, NDArray> state = new LinkedHashMap<>();
    protected final float weightDecay;
    private final float clipNorm;

    protected GradientOptimizer(float weightDecay, float clipNorm) {
        if (weightDecay < 0) {
            throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        }
        this.weightDecay = weightDecay;
        this.clipNorm = clipNorm;
    }

    /** Takes the parameters that require gradients and allocates state for them in {@code manager}. */
    public void init(Iterable<Pair<String, Parameter>> all, NDManager manager) {
        for (Pair<String, Parameter> p : all) {
            if (p.getValue().requiresGradient()) {
                params.add(p);
                createState(p.getKey(), p.getValue().getArray(), manager);
            }
        }
    }

    /** Zeroes the state (moments, momentum) of the parameters of {@code block}, e.g. of a re-initialised head. */
    public void resetState(Block block) {
        Set<Parameter> of = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Pair<String, Parameter> p : block.getParameters()) {
            of.add(p.getValue());
        }
        for (Pair<String, Parameter> p : params) {
            if (of.contains(p.getValue())) {
                String prefix = p.getKey() + "/";
                state.forEach((k, v) -> {
                    if (k.startsWith(prefix)) {
                        Scalars.muli(v, 0);
                    }
                });
            }
        }
    }

    /** Allocates the state of one parameter, named {@code <parameter name>/<what>}. */
    protected abstract void createState(String name, NDArray weight, NDManager manager);

    /** Applies one update with learning rate {@code lr} to every parameter, then zeroes the gradients. */
    public void step(float lr) {
        List<NDArray> grads = new ArrayList<>(params.size());
        for (Pair<String, Parameter> p : params) {
            grads.add(p.getValue().getArray().getGradient());
        }
        if (clipNorm > 0) {
            clipByGlobalNorm(grads);
        }
        beforeUpdates();
        for (int i = 0; i < params.size(); i++) {
            Pair<String, Parameter> p = params.get(i);
            NDArray w = p.getValue().getArray();
            NDArray g = grads.get(i);
            update(p.getKey(), w, g, lr, isScaleOrBias(w));
            zero(w, g);
            g.close();
        }
    }

    /** Called once per step before the parameter updates (e.g. to advance a step counter). */
    protected void beforeUpdates() {}

    /** Updates {@code w} in place. {@code vector} is true for biases and batch-norm parameters. */
    protected abstract void update(String name, NDArray w, NDArray g, float lr, boolean vector);

    /** The optimizer's state by name; the arrays are live, a checkpoint reads and writes them in place. */
    public Map<String, NDArray> state() {
        return state;
    }

    /** Called after a checkpoint wrote saved values into {@link #state()}. */
    public void stateRestored() {}

    private static boolean isScaleOrBias(NDArray w) {
        return w.getShape().dimension() <= 1;
    }

    private static void zero(NDArray w, NDArray g) {
        if (w instanceof PtNDArray pt) {
            JniUtils.zeroGrad(pt);
        } else {
            g.subi(g);
        }
    }

    /** Scales all gradients so their global L2 norm is at most clipNorm, computed on the device. */
    private void clipByGlobalNorm(List<NDArray> grads) {
        NDArray total = null;
        for (NDArray g : grads) {
            NDArray sq = g.square().sum();
            total = total == null ? sq : total.addi(sq);
        }
        if (total == null) {
            return;
        }
        NDArray factor = Scalars.minimum(Scalars.muli(Scalars.pow(total.sqrt().addi(1e-6f), -1), clipNorm), 1f);
        for (NDArray g : grads) {
            g.muli(factor);
        }
    }

    /** The optimizers {@link #create} builds. */
    public static final List<String> NAMES = List.of("sgd", "lars", "adam", "adamw");

    /** Builds an optimizer by name: "sgd", "lars", "adam" or "adamw". */
    public static GradientOptimizer create(String name, float momentum, float weightDecay, float clipNorm) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "sgd" -> new SgdMomentum(momentum, weightDecay, clipNorm, false);
            case "lars" -> new Lars(momentum, weightDecay, clipNorm, 0.001f);
            case "adam" -> new AdamW(0.9f, 0.999f, 1e-8f, weightDecay, clipNorm, false);
            case "adamw" -> new AdamW(0.9f, 0.999f, 1e-8f, weightDecay, clipNorm, true);
            default ->
                throw new IllegalArgumentException("unknown optimizer '" + name + "': use sgd, lars, adam or adamw");
        };
    }
}
