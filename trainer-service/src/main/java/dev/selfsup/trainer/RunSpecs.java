package dev.selfsup.trainer;

import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import dev.selfsup.core.config.Records;
import dev.selfsup.core.method.MethodDefinition;
import dev.selfsup.core.method.Methods;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.service.DataRoot;
import dev.selfsup.service.ModelNames;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Translates between the API's RunSpec and core's PretrainConfig, by name: a RunSpec field carries the setting of
 * the same key ({@code crop_scale_min}), a training setting of {@link PretrainConfig} or a setting of the method's
 * own record. An enum value names its core value ({@code BACKBONE_RESNET18} is "resnet18"). So a new method, or a
 * new setting with its field in the proto, needs no code here, and an unknown value is refused, never guessed.
 */
public final class RunSpecs {
    /** The fields that carry some method's setting. */
    private static final Set<String> METHOD_SETTING_FIELDS = methodSettingFields();
    /** The fields that carry a training setting of PretrainConfig. */
    private static final Set<String> TRAINING_FIELDS = trainingFields();

    private RunSpecs() {}

    private static Set<String> methodSettingFields() {
        Set<String> keys = new LinkedHashSet<>();
        Methods.ALL.forEach(d -> keys.addAll(d.settingKeys()));
        return Set.copyOf(keys);
    }

    private static Set<String> trainingFields() {
        Set<String> keys = new LinkedHashSet<>(Records.keys(PretrainConfig.class));
        keys.removeAll(List.of("method", "settings"));
        keys.retainAll(fieldNames());
        return Set.copyOf(keys);
    }

    private static List<String> fieldNames() {
        return RunSpec.getDescriptor().getFields().stream()
                .map(FieldDescriptor::getName)
                .toList();
    }

    /** The method settings that have no RunSpec field: a setting a client cannot set (tests keep this empty). */
    static List<String> settingsWithoutField() {
        List<String> missing = new ArrayList<>(METHOD_SETTING_FIELDS);
        missing.removeAll(fieldNames());
        return missing;
    }

    /** The name a run's encoder is published under: the request's, the spec's, the run's name, or run-<id>. */
    public static String modelName(Run run, String requested) {
        if (!requested.isBlank()) {
            return ModelNames.require("model_name", requested);
        }
        if (!run.getSpec().getModelName().isBlank()) {
            return ModelNames.require("model_name", run.getSpec().getModelName());
        }
        // The run's name is free text: it names the model only if it is a valid model name as it stands.
        return ModelNames.valid(run.getName()) ? run.getName() : "run-" + run.getRunId();
    }

    /** The core method name of an API method (unset: SimCLR); values this build lacks are INVALID_ARGUMENT. */
    public static String methodName(Method m) {
        if (m == Method.METHOD_UNSPECIFIED) {
            return "simclr";
        }
        if (m == Method.UNRECOGNIZED) {
            throw invalid("method: unknown value; known: " + Methods.NAMES);
        }
        String name = coreName(m.getValueDescriptor());
        if (!Methods.NAMES.contains(name)) {
            throw invalid("method: " + name + " is not implemented in this build; known: " + Methods.NAMES);
        }
        return name;
    }

    /** The API method of a core method name or alias. */
    public static Method method(String name) {
        return Method.valueOf(
                apiValue(Method.getDescriptor(), Methods.canonical(name)).getNumber());
    }

    /**
     * The config a spec asks for, with every unset field at the method's default. Fields of other methods'
     * settings are not used (a client may send one template for all methods); {@link #effective} leaves them out,
     * so the run's recorded spec shows what ran.
     *
     * @throws StatusRuntimeException INVALID_ARGUMENT naming the field, for an unknown or out-of-range value
     */
    public static PretrainConfig toConfig(RunSpec s, Path checkpointDir) {
        MethodDefinition<?> method = Methods.get(methodName(s.getMethod()));
        PretrainConfig.Builder b = PretrainConfig.defaults(method.name()).toBuilder();
        FieldDescriptor backbone = RunSpec.getDescriptor().findFieldByName("backbone");
        if (isSet(s, backbone)) { // first: width and depth given with it win over its defaults
            b.backboneAtDefaults((String) coreValue(s, backbone));
        }
        for (FieldDescriptor f : RunSpec.getDescriptor().getFields()) {
            String key = f.getName();
            if (f == backbone || !isSet(s, f)) {
                continue;
            }
            if (TRAINING_FIELDS.contains(key)) {
                Object value = coreValue(s, f);
                if ((key.equals("epochs") || key.equals("steps")) && ((Number) value).longValue() <= 0) {
                    throw invalid(key + ": must be positive, got " + value);
                }
                b.set(key, value);
                if (key.equals("epochs")) {
                    b.steps(0);
                }
            } else if (method.settingKeys().contains(key)) {
                b.setting(key, coreValue(s, f));
            }
        }
        if (s.getWorkers() > 1 && s.getBatchNorm() == dev.selfsup.proto.v1.BatchNorm.BATCH_NORM_UNSPECIFIED) {
            // The method's choice may be synchronised batch norm, which worker processes cannot do: per worker.
            b.batchNorm("per-device");
        }
        b.checkpointDir(checkpointDir);
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw invalid(e.getMessage());
        }
    }

    /** The spec with every default written in: what the run really does, and only the method's own settings. */
    public static RunSpec effective(RunSpec s, PretrainConfig c) {
        RunSpec.Builder b = s.toBuilder().setMethod(method(c.method()));
        Map<String, Object> values = Records.values(c);
        values.putAll(c.methodSettings());
        for (FieldDescriptor f : RunSpec.getDescriptor().getFields()) {
            String key = f.getName();
            if (METHOD_SETTING_FIELDS.contains(key)) {
                b.clearField(f);
            }
            boolean unsetMeansIt = key.equals("device") && "auto".equals(c.device());
            if ((TRAINING_FIELDS.contains(key) || METHOD_SETTING_FIELDS.contains(key))
                    && values.containsKey(key)
                    && !unsetMeansIt) {
                b.setField(f, apiValue(f, values.get(key)));
            }
        }
        if (c.steps() > 0) {
            b.clearEpochs();
        } else {
            b.clearSteps();
        }
        DatasetRef d = s.getDataset();
        if (d.getPath().isBlank() && d.getUploaded().isEmpty()) {
            d = d.toBuilder().setPath(DataRoot.DEFAULT_DATASET).build();
        }
        return b.setDataset(d).build();
    }

    /** A field is set when it has presence and is present, or is a string or enum with a non-default value. */
    private static boolean isSet(RunSpec s, FieldDescriptor f) {
        if (f.hasPresence()) {
            return s.hasField(f);
        }
        return f.getJavaType() == FieldDescriptor.JavaType.ENUM
                ? ((EnumValueDescriptor) s.getField(f)).getNumber() != 0
                : f.getJavaType() == FieldDescriptor.JavaType.STRING && !((String) s.getField(f)).isEmpty();
    }

    private static Object coreValue(RunSpec s, FieldDescriptor f) {
        Object v = s.getField(f);
        if (v instanceof EnumValueDescriptor e) {
            if (e.getIndex() < 0 || e.getType().findValueByNumber(e.getNumber()) != e) {
                throw invalid(f.getName() + ": unknown value " + e.getNumber() + "; known: " + coreNames(e.getType()));
            }
            return coreName(e);
        }
        return v;
    }

    private static Object apiValue(FieldDescriptor f, Object core) {
        return switch (f.getJavaType()) {
            case ENUM -> apiValue(f.getEnumType(), (String) core);
            case INT -> ((Number) core).intValue();
            case LONG -> ((Number) core).longValue();
            case FLOAT -> ((Number) core).floatValue();
            case DOUBLE -> ((Number) core).doubleValue();
            case BOOLEAN -> (Boolean) core;
            case STRING -> String.valueOf(core);
            default -> throw new IllegalStateException("RunSpec field " + f.getName() + " has no core setting");
        };
    }

    /** The prefix of an enum's values: {@code DevicePreference} values start with {@code DEVICE_PREFERENCE_}. */
    private static String prefix(EnumDescriptor type) {
        return Records.key(type.getName()).toUpperCase(Locale.ROOT) + "_";
    }

    /** The core name of an API enum value: {@code METHOD_MOCO_V2} is "moco-v2". */
    static String coreName(EnumValueDescriptor value) {
        return value.getName()
                .substring(prefix(value.getType()).length())
                .toLowerCase(Locale.ROOT)
                .replace('_', '-');
    }

    /** The API enum value of a core name (the inverse of {@link #coreName}). */
    static EnumValueDescriptor apiValue(EnumDescriptor type, String coreName) {
        EnumValueDescriptor v = type.findValueByName(
                prefix(type) + coreName.toUpperCase(Locale.ROOT).replace('-', '_'));
        if (v == null) {
            throw new IllegalStateException(type.getName() + " has no value for '" + coreName + "'");
        }
        return v;
    }

    private static List<String> coreNames(EnumDescriptor type) {
        return type.getValues().stream()
                .filter(v -> v.getNumber() != 0)
                .map(RunSpecs::coreName)
                .toList();
    }

    static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
