package dev.selfsup.trainer;

import dev.selfsup.proto.v1.RunState;
import java.util.Locale;

/** Run states as people read them: "running", "cancelled". */
final class RunStates {
    private RunStates() {}

    static String label(RunState s) {
        return s.name().replace("RUN_STATE_", "").toLowerCase(Locale.ROOT);
    }
}
