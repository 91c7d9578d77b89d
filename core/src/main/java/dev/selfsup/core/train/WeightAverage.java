package dev.selfsup.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An exponential moving average of the encoder's weights (Polyak averaging, as timm's {@code ModelEmaV2} keeps it),
 * held in a second encoder of the same architecture that is evaluated and exported in place of the last weights.
 *
 * <p>Why: the last weights of a run carry the noise of its last steps; their average over the last few hundred steps
 * is a smoother point of the same trajectory. Every parameter is averaged, batch-norm running statistics included,
 * so the averaged encoder is consistent on its own. The decay ramps up as {@code min(decay, (1 + t) / (10 + t))}
 * after {@code t} updates, so early weights (random at first) do not linger in a short run.
 */
final class WeightAverage {
    private final Block average;
    private final float decay;
    private final List<Pair<NDArray, NDArray>> pairs = new ArrayList<>();

    /**
     * Builds the averaged encoder from {@code spec} and starts it as a copy of {@code encoder}.
     *
     * @param encoder the encoder being trained (built from {@code spec}, initialised)
     * @param imageShape one image's shape, {@code [C, H, W]}
     * @param decay the share of the average kept at each update, in (0, 1)
     */
    WeightAverage(Block encoder, BackboneSpec spec, Shape imageShape, NDManager manager, float decay) {
        this.decay = decay;
        this.average = Backbones.build(spec);
        average.initialize(manager, DataType.FLOAT32, new Shape(2).addAll(imageShape));
        average.freezeParameters(true);
        Map<String, Parameter> byName = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : average.getParameters()) {
            byName.put(p.getKey(), p.getValue());
        }
        for (Pair<String, Parameter> p : encoder.getParameters()) {
            Parameter target = byName.remove(p.getKey());
            NDArray source = p.getValue().getArray();
            if (target == null || !target.getArray().getShape().equals(source.getShape())) {
                throw new IllegalArgumentException(
                        "the encoder's parameter " + p.getKey() + " has no twin in an encoder built from its spec");
            }
            pairs.add(new Pair<>(source, target.getArray()));
        }
        if (!byName.isEmpty()) {
            throw new IllegalArgumentException(
                    "an encoder built from the spec has parameters the encoder lacks: " + byName.keySet());
        }
        copyFromEncoder();
    }

    /** The averaged encoder: evaluate and export this one. */
    Block encoder() {
        return average;
    }

    /** The decay used by the update after {@code updates} earlier ones. */
    double decayAt(long updates) {
        return Math.min(decay, (1.0 + updates) / (10.0 + updates));
    }

    /** average = d * average + (1 - d) * encoder, for every parameter; {@code updates} counts the earlier ones. */
    void update(long updates) {
        double d = decayAt(updates);
        for (Pair<NDArray, NDArray> p : pairs) {
            try (NDArray scaled = Scalars.mul(p.getKey(), 1 - d)) {
                Scalars.muli(p.getValue(), d).addi(scaled);
            }
        }
    }

    /** The average's arrays by parameter name, for checkpoints. */
    Map<String, NDArray> state() {
        Map<String, NDArray> s = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : average.getParameters()) {
            s.put(p.getKey(), p.getValue().getArray());
        }
        return s;
    }

    // An engine-side copy (a * 0 + w): no Java buffer stays behind the average's weights.
    private void copyFromEncoder() {
        for (Pair<NDArray, NDArray> p : pairs) {
            Scalars.muli(p.getValue(), 0).addi(p.getKey());
        }
    }
}
