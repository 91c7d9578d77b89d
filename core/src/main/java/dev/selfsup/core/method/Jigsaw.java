package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import dev.selfsup.core.config.Records;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.ClassifierHead;
import dev.selfsup.core.nn.Losses;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Jigsaw puzzles (Noroozi and Favaro 2016): the nine tiles of a 3x3 grid (with gaps and jitter, {@link PatchGrid})
 * are shuffled by one permutation of a fixed set chosen for maximal Hamming distance
 * ({@link JigsawPermutations}); one shared encoder embeds each tile and an MLP on the nine features, concatenated
 * in shuffled order, classifies which permutation it was.
 *
 * <p>The permutation set is generated from the run's seed and kept in the method's state, so every checkpoint
 * carries it.
 */
public final class Jigsaw extends EncoderMethod {
    /** Jigsaw puzzles, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "jigsaw",
                    "pretext: which permutation shuffled the nine tiles of an image (Noroozi and Favaro 2016)",
                    new Settings(100),
                    (s, c) -> new Jigsaw(c.spec(), s.jigsawPermutations(), c.seed(), Methods.HEAD_HIDDEN))
            .withCheck((s, spec, data) -> new PatchGrid(spec.imageSize()));

    /**
     * Jigsaw's settings.
     *
     * @param jigsawPermutations the size of the permutation set, generated from the run's seed
     */
    public record Settings(int jigsawPermutations) {
        public Settings {
            Records.require(
                    jigsawPermutations >= 2 && jigsawPermutations <= 10000,
                    "jigsaw_permutations",
                    "must be in [2, 10000], got " + jigsawPermutations);
        }
    }

    private static final int TILES = 9;
    private final PatchGrid grid;
    private final int hidden;
    private final long permutationSeed;
    private final SequentialBlock head;
    private int[][] permutations;
    private int minimumDistance;
    private NDArray permutationState;

    public Jigsaw(BackboneSpec spec, int permutationCount, long permutationSeed, int hidden) {
        super("jigsaw", spec, Backbones.build(spec));
        this.grid = new PatchGrid(spec.imageSize());
        this.hidden = hidden;
        this.permutationSeed = permutationSeed;
        this.permutations = JigsawPermutations.generate(permutationCount, permutationSeed);
        this.minimumDistance = JigsawPermutations.minimumDistance(permutations);
        this.head = ClassifierHead.mlp(hidden, permutationCount);
        model.add(encoder).add(head);
    }

    /** The permutation set: row r says which grid cell's tile sits at each input position. */
    public int[][] permutations() {
        return permutations;
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        int p = grid.patchSize();
        encoder.initialize(manager, DataType.FLOAT32, new Shape(TILES, imageShape.get(0), p, p));
        head.initialize(manager, DataType.FLOAT32, new Shape(2, (long) TILES * spec.featureDim()));
        int[] flat = new int[permutations.length * TILES];
        for (int r = 0; r < permutations.length; r++) {
            System.arraycopy(permutations[r], 0, flat, r * TILES, TILES);
        }
        permutationState = manager.create(flat, new Shape(permutations.length, TILES));
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        int b = (int) images.getShape().get(0);
        Random rng = ctx.rng();
        int[][] positions = new int[b][];
        long[] labels = new long[b];
        for (int i = 0; i < b; i++) {
            int label = rng.nextInt(permutations.length);
            labels[i] = label;
            positions[i] = permutations[label];
        }
        NDArray tiles = grid.cut(images, positions, rng);
        NDArray h = ctx.forward(encoder, tiles);
        NDArray puzzle = h.reshape(b, TILES * h.getShape().get(1));
        NDArray logits = ctx.forward(head, puzzle);
        NDArray y = images.getManager().create(labels).toDevice(images.getDevice(), false);
        return Losses.crossEntropy(logits, y);
    }

    @Override
    public Map<String, NDArray> state() {
        return Map.of("permutations", permutationState);
    }

    @Override
    public void stateRestored() {
        int[] flat = permutationState.toIntArray();
        int[][] restored = new int[flat.length / TILES][TILES];
        for (int r = 0; r < restored.length; r++) {
            System.arraycopy(flat, r * TILES, restored[r], 0, TILES);
        }
        permutations = restored;
        minimumDistance = JigsawPermutations.minimumDistance(permutations);
    }

    @Override
    public boolean recalibrateBatchNorm() {
        return true;
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("permutation_seed", permutationSeed);
        h.put("permutation_min_hamming", minimumDistance);
        h.put("patch", grid.patchSize());
        h.put("gap", grid.gap());
        h.put("jitter", grid.jitter());
        h.put("head_hidden", hidden);
        return h;
    }
}
