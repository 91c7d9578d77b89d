package dev.selfsup.core.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Batch normalisation over axis 1 (channels), with momentum 0.9 and epsilon 1e-5 as DJL's own block, that can
 * also normalise with the statistics of the whole batch when the batch is split over data-parallel replicas
 * ({@link BatchNormSync}).
 *
 * <p>On its own (one device, or per-device statistics, or inference) it runs the engine's batch-norm kernel, so
 * results are those of DJL's {@code BatchNorm}. Its class name and parameter names are DJL's, so a block path such
 * as {@code 02BatchNorm_gamma} and every checkpoint and exported encoder keep their names.
 */
public final class BatchNorm extends AbstractBlock {
    private static final byte VERSION = 2;
    /** The share of the old running statistics kept at each update (DJL's convention; PyTorch's 0.1). */
    static final float MOMENTUM = 0.9f;
    /** Added to the variance before the square root. */
    static final float EPSILON = 1e-5f;

    private final Parameter gamma;
    private final Parameter beta;
    private final Parameter runningMean;
    private final Parameter runningVar;
    private long channels;

    public BatchNorm() {
        super(VERSION);
        gamma = addParameter(Parameter.builder()
                .setName("gamma")
                .setType(Parameter.Type.GAMMA)
                .optRequiresGrad(true)
                .build());
        beta = addParameter(Parameter.builder()
                .setName("beta")
                .setType(Parameter.Type.BETA)
                .optRequiresGrad(true)
                .build());
        runningMean = addParameter(Parameter.builder()
                .setName("runningMean")
                .setType(Parameter.Type.RUNNING_MEAN)
                .optRequiresGrad(false)
                .build());
        runningVar = addParameter(Parameter.builder()
                .setName("runningVar")
                .setType(Parameter.Type.RUNNING_VAR)
                .optRequiresGrad(false)
                .build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore parameters, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        Device device = x.getDevice();
        NDArray g = parameters.getValue(gamma, device, training);
        NDArray b = parameters.getValue(beta, device, training);
        NDArray mean = parameters.getValue(runningMean, device, training);
        NDArray var = parameters.getValue(runningVar, device, training);
        BatchNormSync.Member sync = BatchNormSync.current();
        if (training && sync != null) {
            return new NDList(sync.normalize(x, mean, var, g, b, MOMENTUM, EPSILON));
        }
        return ai.djl.nn.norm.BatchNorm.batchNorm(x, mean, var, g, b, 1, MOMENTUM, EPSILON, training);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    protected void beforeInitialize(Shape... inputShapes) {
        super.beforeInitialize(inputShapes);
        channels = inputShapes[0].get(1);
    }

    @Override
    public void prepare(Shape[] inputShapes) {
        Shape s = new Shape(channels);
        gamma.setShape(s);
        beta.setShape(s);
        runningMean.setShape(s);
        runningVar.setShape(s);
    }
}
