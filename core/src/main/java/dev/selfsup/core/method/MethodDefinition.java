package dev.selfsup.core.method;

import dev.selfsup.core.config.Records;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.model.BackboneSpec;
import java.util.List;
import java.util.Map;

/**
 * One method as the registry ({@link Methods}) knows it: its name, what it does, its own settings with their
 * defaults, the training settings it changes from the common defaults, how to build it and what it refuses.
 * Each method class declares its definition next to its code; the registry lists them in one line each.
 *
 * @param name the name the method is recorded under
 * @param aliases older names still accepted
 * @param description one line for help texts
 * @param defaults the method's settings at their defaults; the record validates its values in its constructor
 * @param trainingDefaults training settings (keys of {@code PretrainConfig}) this method starts from instead of the
 *     common defaults, e.g. {@code epochs}
 * @param factory builds the method
 * @param check refuses, before a run starts, data or a backbone the method cannot learn from
 * @param resourcesCheck refuses, before a run starts, outside resources that do not fit (BEiT's tokenizer)
 * @param dataParallel whether the method runs its networks through {@link StepContext#forward}, so its batch can be
 *     split over data-parallel replicas; a method that does not trains on one device only
 * @param <S> the method's settings record
 */
public record MethodDefinition<S extends Record>(
        String name,
        List<String> aliases,
        String description,
        S defaults,
        Map<String, Object> trainingDefaults,
        Factory<S> factory,
        Check<S> check,
        ResourcesCheck<S> resourcesCheck,
        boolean dataParallel) {

    /** Builds a method from its settings. */
    @FunctionalInterface
    public interface Factory<S> {
        /** A new, uninitialised method. */
        SslMethod create(S settings, MethodContext context);
    }

    /** Checks that a method can learn from some data with some backbone, without building anything. */
    @FunctionalInterface
    public interface Check<S> {
        /**
         * @throws UnsuitableDataException if the data is of the wrong kind
         * @throws IllegalArgumentException if a setting or the backbone does not fit
         */
        void check(S settings, BackboneSpec spec, ImageDataset data);
    }

    /** Checks that what a method needs from outside the process is there and fits the data and backbone. */
    @FunctionalInterface
    public interface ResourcesCheck<S> {
        /** @throws UnsuitableDataException naming what is missing or does not fit */
        void check(S settings, BackboneSpec spec, ImageDataset data, MethodResources resources);
    }

    /** A definition without aliases, training overrides or checks; add them with the {@code with…} methods. */
    public static <S extends Record> MethodDefinition<S> of(
            String name, String description, S defaults, Factory<S> factory) {
        return new MethodDefinition<>(
                name,
                List.of(),
                description,
                defaults,
                Map.of(),
                factory,
                (s, spec, d) -> {},
                (s, spec, d, r) -> {},
                false);
    }

    /** This definition with older names that also select it. */
    public MethodDefinition<S> withAliases(String... names) {
        return new MethodDefinition<>(
                name,
                List.of(names),
                description,
                defaults,
                trainingDefaults,
                factory,
                check,
                resourcesCheck,
                dataParallel);
    }

    /** This definition with training settings of its own (keys and values as in {@code PretrainConfig}). */
    public MethodDefinition<S> withTrainingDefaults(Map<String, Object> training) {
        return new MethodDefinition<>(
                name,
                aliases,
                description,
                defaults,
                Map.copyOf(training),
                factory,
                check,
                resourcesCheck,
                dataParallel);
    }

    /** This definition with a check of data and backbone before a run. */
    public MethodDefinition<S> withCheck(Check<S> newCheck) {
        return new MethodDefinition<>(
                name,
                aliases,
                description,
                defaults,
                trainingDefaults,
                factory,
                newCheck,
                resourcesCheck,
                dataParallel);
    }

    /** This definition with a check of its outside resources before a run. */
    public MethodDefinition<S> withResourcesCheck(ResourcesCheck<S> newCheck) {
        return new MethodDefinition<>(
                name, aliases, description, defaults, trainingDefaults, factory, check, newCheck, dataParallel);
    }

    /** This definition marked as able to split its batch over data-parallel replicas. */
    public MethodDefinition<S> withDataParallel() {
        return new MethodDefinition<>(
                name, aliases, description, defaults, trainingDefaults, factory, check, resourcesCheck, true);
    }

    /** The keys of the method's settings, as the API and provenance name them. */
    public List<String> settingKeys() {
        return Records.keys(defaults.getClass());
    }

    /**
     * Settings of this method from a record of the right type.
     *
     * @throws IllegalArgumentException if {@code settings} belong to another method
     */
    public S cast(Record settings) {
        if (!defaults.getClass().isInstance(settings)) {
            throw new IllegalArgumentException("these settings are not " + name + "'s");
        }
        return type().cast(settings);
    }

    /** The defaults with {@code changes} (by key) applied and validated. */
    public S settingsWith(Map<String, ?> changes) {
        return Records.with(defaults, changes, name);
    }

    /** Builds the method. */
    public SslMethod create(Record settings, MethodContext context) {
        return factory.create(cast(settings), context);
    }

    /** Runs the method's check. */
    public void check(Record settings, BackboneSpec spec, ImageDataset data) {
        check.check(cast(settings), spec, data);
    }

    /** Runs the method's check of its outside resources. */
    public void checkResources(Record settings, BackboneSpec spec, ImageDataset data, MethodResources resources) {
        resourcesCheck.check(cast(settings), spec, data, resources);
    }

    @SuppressWarnings("unchecked")
    private Class<S> type() {
        return (Class<S>) defaults.getClass();
    }
}
