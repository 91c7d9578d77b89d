package dev.selfsup.core.engine;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * PyTorch's grad mode is a per-thread setting. DJL turns it off only on the thread that loads the engine, and
 * a gradient collector turns it off again on close only if it was off before. A training or evaluation thread
 * must therefore switch it off itself; otherwise in-place updates of parameters fail ("a leaf Variable that
 * requires grad is being used in an in-place operation") and inference records graphs it never uses.
 */
public final class GradMode {
    private GradMode() {}

    /** Turns recording of gradients off on the calling thread (outside gradient collectors). */
    public static void disableOnThisThread() {
        if ("PyTorch".equals(Engine.getInstance().getEngineName())) {
            JniUtils.setGradMode(false);
        }
    }

    /** Whether the calling thread records gradients now. */
    public static boolean isEnabledOnThisThread() {
        return "PyTorch".equals(Engine.getInstance().getEngineName()) && JniUtils.isGradMode();
    }

    /** Turns recording on or off on the calling thread, e.g. on a worker that runs part of a recorded step. */
    public static void setOnThisThread(boolean enabled) {
        if ("PyTorch".equals(Engine.getInstance().getEngineName())) {
            JniUtils.setGradMode(enabled);
        }
    }
}
