package dev.selfsup.service;

import io.grpc.Status;
import java.util.regex.Pattern;

/** The names a model may be served under, the same rule for whoever names one (trainer or encoder-service). */
public final class ModelNames {
    /** 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit. */
    public static final Pattern PATTERN = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

    private ModelNames() {}

    /** Whether {@code name} is a valid model name. */
    public static boolean valid(String name) {
        return PATTERN.matcher(name).matches();
    }

    /**
     * Refuses a name that breaks the rule; names are never rewritten.
     *
     * @throws io.grpc.StatusRuntimeException INVALID_ARGUMENT naming the field and the rule
     */
    public static String require(String field, String name) {
        if (!valid(name)) {
            String shown = name.length() > 80 ? name.substring(0, 80) + "... (" + name.length() + " characters)" : name;
            throw Status.INVALID_ARGUMENT
                    .withDescription(field + " '" + shown + "' is not a valid model name: use 1 to "
                            + "64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
                    .asRuntimeException();
        }
        return name;
    }
}
