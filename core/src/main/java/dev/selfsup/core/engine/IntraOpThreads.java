package dev.selfsup.core.engine;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * The number of threads libtorch uses inside one operation (OpenMP), for the whole process. Threads that have
 * not run an operation yet take the new value at their first one; threads that have keep the value they had,
 * so set it before any work starts.
 *
 * <p>One batch on all cores suits training. A server on a CPU does better with one thread per operation and
 * one batch per core at a time: the threads of one operation wait for each other at every layer, and every
 * time one of them is preempted by the server's own network threads all of them stall.
 */
public final class IntraOpThreads {
    private IntraOpThreads() {}

    /** Sets the intra-op thread count; does nothing on an engine other than PyTorch. */
    public static void set(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        if ("PyTorch".equals(Engine.getInstance().getEngineName())) {
            JniUtils.setNumThreads(threads);
        }
    }

    /** The intra-op thread count of the calling thread (-1 on an engine other than PyTorch). */
    public static int get() {
        return "PyTorch".equals(Engine.getInstance().getEngineName()) ? JniUtils.getNumThreads() : -1;
    }
}
