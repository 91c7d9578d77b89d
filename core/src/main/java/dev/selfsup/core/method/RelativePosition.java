package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.ClassifierHead;
import dev.selfsup.core.nn.Losses;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Context prediction (Doersch et al. 2015): the centre patch of a 3x3 grid and one of its eight neighbours go
 * through one shared encoder; an MLP on their concatenated features classifies where the neighbour lies. Gaps
 * and jitter ({@link PatchGrid}) keep the answer from being read off the patch edges.
 */
public final class RelativePosition extends EncoderMethod {
    /** Context prediction, registered in {@link Methods}; "context" is its older name. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "relative-position",
                    "pretext: where a patch lies relative to the centre patch (Doersch et al. 2015)",
                    new Settings(),
                    (s, c) -> new RelativePosition(c.spec(), Methods.HEAD_HIDDEN))
            .withAliases("context")
            .withCheck((s, spec, data) -> new PatchGrid(spec.imageSize()));

    /** Context prediction has no settings of its own: the patch grid follows from the image size. */
    public record Settings() {}

    /** The grid cells of the eight neighbours of the centre cell (4), in label order. */
    static final int[] NEIGHBOURS = {0, 1, 2, 3, 5, 6, 7, 8};

    private static final int CENTRE = 4;

    private final PatchGrid grid;
    private final int hidden;
    private final SequentialBlock head;

    public RelativePosition(BackboneSpec spec, int hidden) {
        super("relative-position", spec, Backbones.build(spec));
        this.grid = new PatchGrid(spec.imageSize());
        this.hidden = hidden;
        this.head = ClassifierHead.mlp(hidden, NEIGHBOURS.length);
        model.add(encoder).add(head);
    }

    public PatchGrid grid() {
        return grid;
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        int p = grid.patchSize();
        encoder.initialize(manager, DataType.FLOAT32, new Shape(2, imageShape.get(0), p, p));
        head.initialize(manager, DataType.FLOAT32, new Shape(2, 2L * spec.featureDim()));
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        int b = (int) images.getShape().get(0);
        Random rng = ctx.rng();
        int[][] positions = new int[b][];
        long[] labels = new long[b];
        for (int i = 0; i < b; i++) {
            int label = rng.nextInt(NEIGHBOURS.length);
            labels[i] = label;
            positions[i] = new int[] {CENTRE, NEIGHBOURS[label]};
        }
        NDArray patches = grid.cut(images, positions, rng);
        NDArray h = ctx.forward(encoder, patches);
        NDArray pairs = h.reshape(b, 2L * h.getShape().get(1));
        NDArray logits = ctx.forward(head, pairs);
        NDArray y = images.getManager().create(labels).toDevice(images.getDevice(), false);
        return Losses.crossEntropy(logits, y);
    }

    @Override
    public boolean recalibrateBatchNorm() {
        return true;
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("patch", grid.patchSize());
        h.put("gap", grid.gap());
        h.put("jitter", grid.jitter());
        h.put("head_hidden", hidden);
        return h;
    }
}
