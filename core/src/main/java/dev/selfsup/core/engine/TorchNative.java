package dev.selfsup.core.engine;

/**
 * The JNI shim over libtorch's autocast switches ({@code src/main/native/selfsup_torch.cpp}), built by core's Maven
 * build where g++ is installed and packed into the jar. It needs no libtorch headers: it finds the functions in the
 * libtorch DJL has loaded, so it is opened only after the engine is up.
 */
final class TorchNative {
    private static final String RESOURCE = "/dev/selfsup/core/engine/native/libselfsup_torch.so";
    private static String problem;
    private static boolean opened;

    private TorchNative() {}

    /** Null when the shim is loaded and found what it needs in this libtorch; else why not, for a person. */
    static synchronized String problem() {
        if (!opened) {
            String p = NativeShims.load(
                    TorchNative.class,
                    RESOURCE,
                    "the libtorch shim",
                    "install g++, then rebuild",
                    "a C++ runtime is needed");
            if (p == null) {
                // The engine must be loaded first: the shim looks its functions up in the libtorch of this process.
                ai.djl.engine.Engine.getInstance();
                p = open();
            }
            problem = p;
            opened = true;
        }
        return problem;
    }

    /** Finds the functions in the loaded libtorch; null when all are there, else which are missing. */
    private static native String open();

    /** Turns bfloat16 autocast on for this thread; returns the state it replaced, for {@link #exit}. */
    static native int enterBfloat16(boolean gpu);

    /** Restores the state {@link #enterBfloat16} returned; the outermost exit drops autocast's cached casts. */
    static native void exit(boolean gpu, int previous);

    /** Whether autocast is on for this thread. */
    static native boolean enabled(boolean gpu);
}
