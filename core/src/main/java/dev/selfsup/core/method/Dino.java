package dev.selfsup.core.method;

import static dev.selfsup.core.config.Records.require;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.engine.Scalars;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.nn.Losses;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * DINO (Caron et al. 2021): self-distillation without labels. A student network learns to match, on every view of
 * an image, the output distribution over {@code prototypes} that a teacher gives on the two global views. The
 * teacher is an exponential moving average of the student (momentum from {@code target_momentum} to 1 along a
 * cosine); its outputs are centred (a running mean, which keeps one prototype from winning everything) and
 * sharpened by a low temperature (which keeps the distribution from flattening). Multi-crop: two global views at
 * the image's size and {@code local_crops} small views of 5% to {@code crop_scale_min} of the area at
 * {@code local_crop_size}, seen by the student only. The teacher and the centre are part of {@link #state()}.
 */
public final class Dino extends EncoderMethod {
    /** DINO, registered in {@link Methods}. */
    public static final MethodDefinition<Settings> DEFINITION = MethodDefinition.of(
                    "dino",
                    "self-distillation: a student matches a momentum teacher's centred, sharpened outputs over"
                            + " multi-crop views (Caron et al. 2021)",
                    new Settings(512, 128, 1024, 0.04f, 0.1f, 0.9f, 0.99f, 4, 0, 0.3f, 0.5f),
                    (s, c) -> new Dino(c.spec(), s, c.totalSteps()))
            .withCheck((s, spec, data) -> LocalViews.checkBackbone(s.localCrops(), s.localCropSize(), spec));

    /**
     * DINO's settings. The teacher temperature 0.04 and student temperature 0.1 are the paper's; the momentum starts
     * at 0.99 rather than 0.996 because short runs need the teacher to follow faster.
     *
     * @param projectionHidden hidden units of the head's MLP
     * @param projectionDim the head's bottleneck, L2-normalised before the prototypes
     * @param prototypes the number of outputs the distributions are over
     * @param teacherTemperature the teacher's softmax temperature (sharpening)
     * @param temperature the student's softmax temperature
     * @param centerMomentum the EMA coefficient of the centre of the teacher's outputs
     * @param targetMomentum the teacher's EMA coefficient at the first step; it rises to 1 along a cosine
     * @param localCrops small views per image seen by the student only (0: two global views only)
     * @param localCropSize the local views' side in pixels (0: about half the image's, at least 8)
     * @param cropScaleMin the boundary between local (5% to it) and global (it to 100%) crops' area
     * @param jitterStrength colour-jitter strength s
     */
    public record Settings(
            int projectionHidden,
            int projectionDim,
            int prototypes,
            float teacherTemperature,
            float temperature,
            float centerMomentum,
            float targetMomentum,
            int localCrops,
            int localCropSize,
            float cropScaleMin,
            float jitterStrength) {
        public Settings {
            Contrastive.checkSettings(projectionHidden, projectionDim, cropScaleMin, jitterStrength);
            Contrastive.checkTemperature(temperature);
            require(prototypes >= 2 && prototypes <= 65536, "prototypes", "must be 2 to 65536, got " + prototypes);
            require(teacherTemperature > 0, "teacher_temperature", "must be positive, got " + teacherTemperature);
            require(
                    centerMomentum >= 0 && centerMomentum < 1,
                    "center_momentum",
                    "must be in [0, 1), got " + centerMomentum);
            require(
                    targetMomentum >= 0 && targetMomentum < 1,
                    "target_momentum",
                    "must be in [0, 1), got " + targetMomentum);
            LocalViews.checkSettings(localCrops, localCropSize, cropScaleMin);
            require(
                    cropScaleMin > LocalViews.SCALE_MIN,
                    "crop_scale_min",
                    "must be above 0.05 (local crops start there)");
        }
    }

    private final Settings settings;
    private final long totalSteps;
    private final AugmentationPipeline globalViews;
    private final LocalViews localViews;
    private final SequentialBlock teacher;
    private MomentumEncoder teacherFollower;
    private NDArray center; // [1, prototypes]
    private NDArray pendingBatchCenter;

    /**
     * @param totalSteps the run's length, over which the teacher's momentum rises to 1
     */
    public Dino(BackboneSpec spec, Settings settings, long totalSteps) {
        super("dino", spec, Backbones.build(spec));
        this.settings = settings;
        this.totalSteps = totalSteps;
        this.globalViews = AugmentationPipeline.contrastive(
                spec.channels(), spec.imageSize(), settings.cropScaleMin(), 1.0, settings.jitterStrength());
        this.localViews = new LocalViews(
                spec,
                settings.localCrops(),
                settings.localCropSize(),
                settings.cropScaleMin(),
                settings.jitterStrength());
        model.add(encoder).add(head(settings));
        this.teacher = new SequentialBlock().add(Backbones.build(spec)).add(head(settings));
    }

    /** MLP (GELU), bottleneck, L2 normalisation, then a linear layer without bias onto the prototypes. */
    private static Block head(Settings s) {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(s.projectionHidden()).build())
                .add(Activation.geluBlock())
                .add(Linear.builder().setUnits(s.projectionDim()).build())
                .add(new LambdaBlock(x -> new NDList(Losses.l2Normalize(x.singletonOrThrow()))))
                .add(Linear.builder().setUnits(s.prototypes()).optBias(false).build());
    }

    @Override
    public void initialize(NDManager manager, Shape imageShape) {
        Shape in = new Shape(2).addAll(imageShape);
        model.initialize(manager, DataType.FLOAT32, in);
        teacher.initialize(manager, DataType.FLOAT32, in);
        teacherFollower = new MomentumEncoder(model, teacher);
        center = manager.zeros(new Shape(1, settings.prototypes()));
    }

    @Override
    public NDArray loss(StepContext ctx, NDArray images) {
        long n = images.getShape().get(0);
        NDArray g1 = globalViews.apply(images, ctx.rng());
        NDArray g2 = globalViews.apply(images, ctx.rng());
        List<NDArray> students = new ArrayList<>();
        NDArray globals = ctx.forward(model, g1, g2);
        students.add(globals.get("0:" + n));
        students.add(globals.get(n + ":"));
        if (localViews.count() > 0) {
            NDArray[] locals = localViews.draw(ctx, images);
            NDArray out = ctx.forward(model, locals);
            for (int i = 0; i < locals.length; i++) {
                students.add(out.get(i * n + ":" + (i + 1) * n));
            }
        }
        // The teacher's parameters are frozen: no graph is recorded for it.
        NDArray t = ctx.forward(teacher, g1, g2).stopGradient();
        pendingBatchCenter = t.mean(new int[] {0}, true);
        NDArray targets =
                Scalars.divi(t.sub(center), settings.teacherTemperature()).softmax(1);
        NDArray[] teacherViews = {targets.get("0:" + n), targets.get(n + ":")};
        NDArray total = null;
        int pairs = 0;
        for (int j = 0; j < students.size(); j++) {
            NDArray logProbs =
                    Scalars.div(students.get(j), settings.temperature()).logSoftmax(1);
            for (int i = 0; i < teacherViews.length; i++) {
                if (i == j) {
                    continue; // a global view is not its own target
                }
                NDArray ce =
                        teacherViews[i].mul(logProbs).sum(new int[] {1}).mean().neg();
                total = total == null ? ce : total.add(ce);
                pairs++;
            }
        }
        return Scalars.divi(total, pairs);
    }

    @Override
    public void afterStep(StepContext ctx) {
        teacherFollower.update(MomentumEncoder.cosineMomentum(settings.targetMomentum(), ctx.step(), totalSteps));
        if (pendingBatchCenter != null) {
            float m = settings.centerMomentum();
            try (NDArray part = Scalars.mul(pendingBatchCenter, 1 - m)) {
                Scalars.muli(center, m).addi(part);
            }
            pendingBatchCenter = null;
        }
    }

    @Override
    public Map<String, NDArray> state() {
        Map<String, NDArray> s = teacherFollower.state("teacher/");
        s.put("center", center);
        return s;
    }

    @Override
    public Map<String, Object> derivedValues() {
        Map<String, Object> h = new LinkedHashMap<>(localViews.derivedValues());
        h.put("target_momentum_schedule", "cosine from target_momentum to 1 over " + totalSteps + " steps");
        return h;
    }
}
