package dev.selfsup.service;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A request's settings as a map by field name, for {@code Records.with}: the one way a service turns the optional
 * fields of a proto into a core record's settings, so that a field and the record component of the same name meet
 * without a hand-written line per field and an unset field keeps the record's default.
 */
public final class ProtoSettings {
    private ProtoSettings() {}

    /** The fields of {@code m} named in {@code keys} that have presence and are set, by name, as Java values. */
    public static Map<String, Object> present(Message m, Collection<String> keys) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (FieldDescriptor f : m.getDescriptorForType().getFields()) {
            if (f.hasPresence() && !f.isRepeated() && keys.contains(f.getName()) && m.hasField(f)) {
                out.put(f.getName(), m.getField(f));
            }
        }
        return out;
    }
}
