package dev.selfsup.core.numerics;

import com.sun.jna.Library;
import com.sun.jna.Native;

/**
 * The C library's own environment. Native libraries read their settings with {@code getenv}, which sees
 * {@code setenv} calls made in this process; Java's {@link System#getenv} is a copy taken at start and does not.
 */
final class LibC {
    private LibC() {}

    private interface C extends Library {
        String getenv(String name);

        int setenv(String name, String value, int overwrite);
    }

    private static final class Holder {
        static final C C = Native.load("c", C.class);
    }

    /** The variable as native code sees it now, or null. */
    static String getenv(String name) {
        return Holder.C.getenv(name);
    }

    /** Sets the variable for native code in this process. (Java's ProcessBuilder passes its own copy on.) */
    static void setenv(String name, String value) {
        if (Holder.C.setenv(name, value, 1) != 0) {
            throw new IllegalStateException("setenv(" + name + ") failed");
        }
    }
}
