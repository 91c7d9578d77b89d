package dev.selfsup.core.parallel;

import dev.selfsup.core.engine.NativeShims;
import java.nio.ByteBuffer;

/**
 * The JNI shim over Debian's Gloo ({@code src/main/native/selfsup_gloo.cpp}), built by core's Maven build where
 * {@code libgloo-dev} is installed and packed into the jar. The JVM opens native libraries with {@code RTLD_LOCAL},
 * so the shim's Gloo symbols resolve to {@code libgloo.so.0} and never to the copy of Gloo inside libtorch.
 */
final class GlooNative {
    private static final String RESOURCE = "/dev/selfsup/core/parallel/native/libselfsup_gloo.so";
    private static final String PROBLEM = load();

    private GlooNative() {}

    /** Null when the shim is loaded; else why not, in words for a person. */
    static String problem() {
        return PROBLEM;
    }

    private static String load() {
        return NativeShims.load(
                GlooNative.class,
                RESOURCE,
                "the Gloo shim",
                "install Debian's libgloo-dev and g++, then rebuild",
                "is Debian's libgloo0 installed?");
    }

    static native long connect(
            int rank,
            int size,
            String storeKind,
            String storeAddress,
            int storePort,
            String prefix,
            String hostname,
            long connectMillis,
            long timeoutMillis);

    static native void allReduceSum(long group, ByteBuffer buffer, long floats);

    static native void allGather(long group, ByteBuffer in, ByteBuffer out, long bytes);

    static native void broadcast(long group, ByteBuffer buffer, long bytes, int root);

    static native void barrier(long group);

    static native void close(long group);
}
