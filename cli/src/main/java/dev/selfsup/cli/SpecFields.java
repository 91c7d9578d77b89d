package dev.selfsup.cli;

import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.List;
import java.util.Locale;

/**
 * Sets a field of a request by its name in the proto, from text: what {@code --set KEY=VALUE} does. Enum values are
 * given as the service names them ({@code backbone=resnet18} is {@code BACKBONE_RESNET18}).
 */
final class SpecFields {
    private SpecFields() {}

    /**
     * @throws IllegalArgumentException naming the field and what it takes, for an unknown field or a bad value
     */
    static void set(Message.Builder b, String name, String text) {
        FieldDescriptor f = b.getDescriptorForType().findFieldByName(name);
        if (f == null || f.isRepeated() || f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
            throw new IllegalArgumentException("--set " + name + ": no such setting; known: " + names(b));
        }
        try {
            b.setField(
                    f,
                    switch (f.getJavaType()) {
                        case INT -> Integer.parseInt(text.trim());
                        case LONG -> Long.parseLong(text.trim());
                        case FLOAT -> Float.parseFloat(text.trim());
                        case DOUBLE -> Double.parseDouble(text.trim());
                        case BOOLEAN -> Boolean.parseBoolean(text.trim());
                        case STRING -> text;
                        case ENUM -> enumValue(f.getEnumType(), text.trim());
                        default -> throw new IllegalArgumentException("not settable");
                    });
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--set " + name + ": '" + text + "' is not a " + typeName(f));
        }
    }

    private static List<String> names(Message.Builder b) {
        return b.getDescriptorForType().getFields().stream()
                .filter(f -> !f.isRepeated() && f.getJavaType() != FieldDescriptor.JavaType.MESSAGE)
                .map(FieldDescriptor::getName)
                .toList();
    }

    private static String typeName(FieldDescriptor f) {
        return switch (f.getJavaType()) {
            case INT, LONG -> "whole number";
            case FLOAT, DOUBLE -> "number";
            default -> f.getJavaType().name().toLowerCase(Locale.ROOT);
        };
    }

    private static String prefix(EnumDescriptor type) {
        return type.getName().replaceAll("([a-z0-9])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT) + "_";
    }

    private static EnumValueDescriptor enumValue(EnumDescriptor type, String text) {
        String prefix = prefix(type);
        EnumValueDescriptor v =
                type.findValueByName(prefix + text.toUpperCase(Locale.ROOT).replace('-', '_'));
        if (v == null || v.getNumber() == 0) {
            List<String> known = type.getValues().stream()
                    .filter(e -> e.getNumber() != 0)
                    .map(e -> e.getName()
                            .substring(prefix.length())
                            .toLowerCase(Locale.ROOT)
                            .replace('_', '-'))
                    .toList();
            throw new IllegalArgumentException(type.getName() + " '" + text + "' is unknown; known: " + known);
        }
        return v;
    }
}
