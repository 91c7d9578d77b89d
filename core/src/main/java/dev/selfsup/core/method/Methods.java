package dev.selfsup.core.method;

import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.model.BackboneSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The registry of methods: each method class declares its {@link MethodDefinition}, and this class lists them,
 * one line each. Everything else (names, aliases, help texts, the API mapping, test lists) reads it from here.
 */
public final class Methods {
    /** Every method this build implements, in the order help texts list them. */
    public static final List<MethodDefinition<?>> ALL = List.of(
            SimClr.DEFINITION,
            MocoV2.DEFINITION,
            Byol.DEFINITION,
            SimSiam.DEFINITION,
            BarlowTwins.DEFINITION,
            Vicreg.DEFINITION,
            Dino.DEFINITION,
            Rotation.DEFINITION,
            RelativePosition.DEFINITION,
            Jigsaw.DEFINITION,
            Colorization.DEFINITION,
            DeepCluster.DEFINITION,
            Beit.DEFINITION);

    /** The methods that can split their batch over data-parallel replicas. */
    public static List<String> dataParallelNames() {
        return ALL.stream()
                .filter(MethodDefinition::dataParallel)
                .map(MethodDefinition::name)
                .toList();
    }

    /** The method names this build implements. */
    public static final List<String> NAMES =
            ALL.stream().map(MethodDefinition::name).toList();

    private static final Map<String, MethodDefinition<?>> BY_NAME = byName();

    /** Hidden units of the pretext tasks' classifier heads (a constant: reading it does not load this class). */
    static final int HEAD_HIDDEN = 512;

    private Methods() {}

    private static Map<String, MethodDefinition<?>> byName() {
        Map<String, MethodDefinition<?>> m = new LinkedHashMap<>();
        for (MethodDefinition<?> d : ALL) {
            m.put(d.name(), d);
            d.aliases().forEach(a -> m.put(a, d));
        }
        return Map.copyOf(m);
    }

    /**
     * The definition of a method by its name or an alias, in any case.
     *
     * @throws IllegalArgumentException for a name this build does not implement
     */
    public static MethodDefinition<?> get(String name) {
        MethodDefinition<?> d =
                name == null ? null : BY_NAME.get(name.toLowerCase(Locale.ROOT).trim());
        if (d == null) {
            throw new IllegalArgumentException("method: unknown method '" + name + "', known: " + NAMES);
        }
        return d;
    }

    /**
     * The name under which a method is implemented and recorded: aliases resolved, lower case.
     *
     * @throws IllegalArgumentException for a name this build does not implement
     */
    public static String canonical(String name) {
        return get(name).name();
    }

    /**
     * Builds {@code method} with {@code settings} (its own settings record).
     *
     * @throws UnsuitableDataException if the method cannot learn from the context's data
     */
    public static SslMethod create(String method, Record settings, MethodContext context) {
        return get(method).create(settings, context);
    }

    /**
     * Checks, without building anything, that {@code method} can train on {@code data} with these settings and this
     * backbone: what a service verifies before it accepts a run.
     *
     * @throws UnsuitableDataException if the data is of the wrong kind (grayscale for colorization)
     * @throws IllegalArgumentException if a setting or the backbone does not fit
     */
    public static void checkData(String method, Record settings, BackboneSpec spec, ImageDataset data) {
        get(method).check(settings, spec, data);
    }

    /**
     * Checks a method's outside resources (BEiT's tokenizer) against the data and backbone, before a run.
     *
     * @throws UnsuitableDataException naming what is missing or does not fit
     */
    public static void checkResources(
            String method, Record settings, BackboneSpec spec, ImageDataset data, MethodResources resources) {
        get(method).checkResources(settings, spec, data, resources);
    }
}
