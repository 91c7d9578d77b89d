package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.ClassifierHead;
import dev.selfsup.core.nn.Losses;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Rotation prediction (RotNet, Gidaris et al. 2018): every image of the batch is rotated by 0, 90, 180 and 270
 * degrees (all four, as in the paper, which found that better than one random rotation) and the network
 * classifies the rotation. Rotations by multiples of 90 degrees are exact pixel permutations: there is no
 * interpolation artefact that would give the answer away.
 */
public final class Rotation extends EncoderMethod {
    /** RotNet, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "rotation",
                    "pretext: classify which of four rotations an image shows (Gidaris et al. 2018)",
                    new Settings(0.5f),
                    (s, c) -> new Rotation(
                            c.spec(),
                            AugmentationPipeline.cropFlip(c.spec().imageSize(), s.cropScaleMin()),
                            Methods.HEAD_HIDDEN))
            .withDataParallel();

    /**
     * Rotation's settings.
     *
     * @param cropScaleMin smallest area fraction of the random resized crop; at least half the image by default,
     *     because a crop of a fifth would hide the object's orientation cues
     */
    public record Settings(float cropScaleMin) {
        public Settings {
            SettingChecks.requireCropScale(cropScaleMin);
        }
    }

    /** The image plane of {@code [B, C, H, W]}: rotations turn axes 2 and 3. */
    private static final int[] AXES = {2, 3};

    private final Augmentation augment;
    private final int hidden;

    public Rotation(BackboneSpec spec, Augmentation augment, int hidden) {
        super("rotation", spec, Backbones.build(spec));
        this.augment = augment;
        this.hidden = hidden;
        model.add(encoder).add(ClassifierHead.mlp(hidden, 4));
    }

    /**
     * The four rotations of a batch, stacked: {@code [B, C, H, W]} to {@code [4B, C, H, W]}, where rows
     * {@code kB .. (k+1)B} are rotated by {@code k * 90} degrees counter-clockwise.
     */
    public static NDArray fourRotations(NDArray images) {
        NDList all = new NDList(4);
        for (int k = 0; k < 4; k++) {
            all.add(k == 0 ? images : images.rotate90(k, AXES));
        }
        return NDArrays.concat(all, 0);
    }

    /** The labels of {@link #fourRotations}: {@code [4B]} int64, k for the k-th block of B. */
    public static NDArray rotationLabels(NDManager manager, int batch) {
        long[] labels = new long[4 * batch];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i / batch;
        }
        return manager.create(labels);
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        model.initialize(manager, DataType.FLOAT32, new Shape(2).addAll(imageShape));
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        int b = (int) images.getShape().get(0);
        NDArray x = augment.apply(images, ctx.rng());
        // The four turns of an image go to the same replica, so no replica's batch statistics see one turn only.
        NDArray logits = ctx.forward(model, x, x.rotate90(1, AXES), x.rotate90(2, AXES), x.rotate90(3, AXES));
        NDArray labels = rotationLabels(images.getManager(), b).toDevice(images.getDevice(), false);
        return Losses.crossEntropy(logits, labels);
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("rotations", "0,90,180,270 (all per image)");
        h.put("head_hidden", hidden);
        return h;
    }
}
