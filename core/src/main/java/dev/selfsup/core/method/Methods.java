package dev.selfsup.core.method;

import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.PretrainConfig;
import java.util.List;

/** Builds a method by its name from a run's settings. */
public final class Methods {
    /** The method names this build implements. */
    public static final List<String> NAMES = List.of("simclr", "moco-v2");

    private Methods() {}

    public static SslMethod create(PretrainConfig c, BackboneSpec spec) {
        var views = AugmentationPipeline.contrastive(spec.channels(), spec.imageSize(), c.cropScaleMin(),
                c.jitterStrength());
        return switch (c.method()) {
            case "simclr" -> new SimClr(spec, views, c.projectionHidden(), c.projectionDim(), c.temperature());
            case "moco-v2", "moco" -> new MocoV2(spec, views, c.projectionHidden(), c.projectionDim(), c.queueSize(),
                    c.keyMomentum(), c.temperature());
            default -> throw new IllegalArgumentException("method: unknown method '" + c.method() + "', known: " + NAMES);
        };
    }
}
