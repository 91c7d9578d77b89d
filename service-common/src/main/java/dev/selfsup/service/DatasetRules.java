package dev.selfsup.service;

import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** The names an uploaded dataset, its files, labels and splits may have, and the bounds of one file's header. */
public final class DatasetRules {
    private DatasetRules() {}

    /** Dataset names: the same rule as model names. */
    public static final Pattern NAME = ModelNames.PATTERN;
    /** File names: letters, digits, space, '.', '_', '+', '-', starting with a letter or digit. */
    public static final Pattern FILE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9 ._+-]{0,127}");
    /** Labels: as file names, at most 64 characters. */
    public static final Pattern LABEL = Pattern.compile("[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}");
    /** The splits a dataset may have. */
    public static final List<String> SPLITS = List.of("train", "test");

    /** Refuses a file header that breaks a rule or is larger than {@code maxFileBytes}. */
    static void requireHeader(DatasetStore.FileRow h, long maxFileBytes) {
        if (!FILE.matcher(h.name()).matches() || h.name().endsWith(" ") || !imageName(h.name())) {
            throw Refusal.invalid(
                    "file name '" + shortened(h.name()) + "' is not allowed: 1-128 letters, digits, spaces, "
                            + "'.', '_', '+' or '-', starting with a letter or digit, ending in .png, .jpg or .jpeg "
                            + "(no folders: give the label and split instead)");
        }
        if (!h.label().isEmpty()
                && (!LABEL.matcher(h.label()).matches() || h.label().endsWith(" ") || SPLITS.contains(h.label()))) {
            throw Refusal.invalid(
                    "label '" + shortened(h.label()) + "' is not allowed: 1-64 letters, digits, spaces, '.', "
                            + "'_', '+' or '-', starting with a letter or digit, not 'train' or 'test'");
        }
        if (!SPLITS.contains(h.split())) {
            throw Refusal.invalid("split '" + shortened(h.split()) + "' is not one of: train, test");
        }
        if (h.size() <= 0) {
            throw Refusal.invalid("file '" + shortened(h.name()) + "': size must be the file's size in bytes (> 0)");
        }
        if (h.size() > maxFileBytes) {
            throw Refusal.quota("file '" + shortened(h.name()) + "' is " + h.size() + " bytes; the limit is "
                    + maxFileBytes + " (selfsup.datasets.max-file-bytes)");
        }
        if (!h.sha256().isEmpty() && !h.sha256().matches("[0-9a-fA-F]{64}")) {
            throw Refusal.invalid("file '" + shortened(h.name()) + "': sha256 must be 64 hex digits, or empty");
        }
    }

    private static boolean imageName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    /** Refuses a name that breaks the rule. */
    public static void requireName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw Refusal.invalid(
                    "dataset name '" + shortened(name == null ? "" : name) + "' is not valid: use 1 to 64 of "
                            + "a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
        }
    }

    /** A client's value as a message quotes it: at most 100 characters, and its length when cut. */
    public static String shortened(String value) {
        return value.length() > 100 ? value.substring(0, 100) + "... (" + value.length() + " characters)" : value;
    }
}
