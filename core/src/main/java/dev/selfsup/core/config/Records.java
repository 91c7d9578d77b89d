package dev.selfsup.core.config;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads and changes a settings record by key. A component {@code cropScaleMin} has the key {@code crop_scale_min}:
 * the name of the API field that carries it. Changing goes through the canonical constructor, so a record's own
 * validation sees every new value.
 */
public final class Records {
    private Records() {}

    /**
     * Refuses a value: the message starts with the setting's key, as every message about a setting does.
     *
     * @throws IllegalArgumentException {@code key + ": " + why} unless {@code ok}
     */
    public static void require(boolean ok, String key, String why) {
        if (!ok) {
            throw new IllegalArgumentException(key + ": " + why);
        }
    }

    /** The keys of {@code type}'s components, in declaration order. */
    public static List<String> keys(Class<? extends Record> type) {
        List<String> keys = new ArrayList<>();
        for (RecordComponent c : type.getRecordComponents()) {
            keys.add(key(c.getName()));
        }
        return keys;
    }

    /** The key of a component name: {@code cropScaleMin} is {@code crop_scale_min}. */
    public static String key(String componentName) {
        return componentName.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    /** Every component of {@code r} by key, in declaration order. */
    public static Map<String, Object> values(Record r) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            values.put(key(c.getName()), read(r, c));
        }
        return values;
    }

    /**
     * A copy of {@code base} with {@code changes} applied. Numbers are converted to the component's type when no
     * precision is lost in practice (an int given for a float, a long for an int that fits).
     *
     * @param owner what the settings belong to, for messages ("simclr")
     * @throws IllegalArgumentException for an unknown key, a value of the wrong kind, or a value the record refuses
     */
    @SuppressWarnings("unchecked")
    public static <R extends Record> R with(R base, Map<String, ?> changes, String owner) {
        if (changes.isEmpty()) {
            return base;
        }
        RecordComponent[] components = base.getClass().getRecordComponents();
        List<String> keys = keys(base.getClass());
        for (String k : changes.keySet()) {
            if (!keys.contains(k)) {
                throw new IllegalArgumentException(k + ": not a setting of " + owner
                        + (keys.isEmpty() ? ", which has none" : "; its settings: " + keys));
            }
        }
        Object[] args = new Object[components.length];
        Class<?>[] types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            RecordComponent c = components[i];
            String k = key(c.getName());
            types[i] = c.getType();
            args[i] = changes.containsKey(k) ? convert(changes.get(k), c.getType(), k) : read(base, c);
        }
        try {
            Constructor<?> ctor = base.getClass().getDeclaredConstructor(types);
            return (R) ctor.newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot build " + base.getClass().getSimpleName(), e);
        }
    }

    private static Object read(Record r, RecordComponent c) {
        try {
            return c.getAccessor().invoke(r);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read " + c.getName(), e);
        }
    }

    private static Object convert(Object v, Class<?> to, String key) {
        if (v == null) {
            if (to.isPrimitive()) {
                throw new IllegalArgumentException(key + ": a value is required");
            }
            return null;
        }
        if (to == int.class || to == Integer.class) {
            long l = integral(v, key);
            if (l != (int) l) {
                throw new IllegalArgumentException(key + ": " + v + " is out of range");
            }
            return (int) l;
        }
        if (to == long.class || to == Long.class) {
            return integral(v, key);
        }
        if (to == float.class || to == Float.class) {
            return number(v, key).floatValue();
        }
        if (to == double.class || to == Double.class) {
            return number(v, key).doubleValue();
        }
        if (to == boolean.class || to == Boolean.class) {
            if (v instanceof Boolean b) {
                return b;
            }
            if (v instanceof String s && (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false"))) {
                return Boolean.parseBoolean(s);
            }
            throw new IllegalArgumentException(key + ": expected true or false, got " + v);
        }
        if (to == String.class) {
            return v.toString();
        }
        if (to.isInstance(v)) {
            return v;
        }
        throw new IllegalArgumentException(key + ": expected " + to.getSimpleName() + ", got " + v);
    }

    private static Number number(Object v, String key) {
        if (v instanceof Number n) {
            return n;
        }
        if (v instanceof String s) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(key + ": expected a number, got '" + s + "'");
            }
        }
        throw new IllegalArgumentException(key + ": expected a number, got " + v);
    }

    private static long integral(Object v, String key) {
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof String s) {
            try {
                return Long.parseLong(s.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(key + ": expected a whole number, got '" + s + "'");
            }
        }
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
            return n.longValue();
        }
        throw new IllegalArgumentException(key + ": expected a whole number, got " + v);
    }
}
