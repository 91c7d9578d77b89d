package dev.selfsup.core.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.core.augment.Augmentation;
import dev.selfsup.core.data.HostViews;
import dev.selfsup.core.model.BackboneSpec;

/**
 * What the methods that compare two augmented views of each image share (SimCLR, MoCo v2, BYOL, SimSiam, Barlow
 * Twins, VICReg): the views, cropped on the host when images are read from disk, and a trainable block that takes
 * a batch of them. A subclass adds its heads to {@link #model} and says what it makes of the two views.
 */
abstract class TwoViewMethod extends EncoderMethod {
    private final Augmentation views;
    private final Contrastive.HostSplit hostSplit;

    TwoViewMethod(String name, BackboneSpec spec, Block encoder, Augmentation views) {
        super(name, spec, encoder);
        this.views = views;
        this.hostSplit = Contrastive.hostSplit(views);
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        model.initialize(manager, DataType.FLOAT32, new Shape(2).addAll(imageShape));
    }

    /** Images read from disk: both views cropped from the source image on the host. */
    @Override
    public HostViews hostViews() {
        return hostSplit.host();
    }

    /**
     * Both views through the trainable block as one batch of 2N, so batch norm sees them together (as SimCLR's
     * reference does) and both views of an image go to the same replica: the outputs for view 1 and view 2.
     */
    protected NDArray[] outputsOfBothViews(StepContext ctx, NDArray images) {
        long n = images.getShape().get(0);
        NDArray z = ctx.forward(model, view(ctx, 0, images), view(ctx, 1, images));
        return new NDArray[] {z.get("0:" + n), z.get(n + ":")};
    }

    /** View {@code v} (0 or 1) of this step's batch. */
    protected NDArray view(StepContext ctx, int v, NDArray images) {
        return Contrastive.view(ctx, v, images, views, hostSplit);
    }
}
