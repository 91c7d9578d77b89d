package dev.selfsup.core.engine;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one way this code base makes threads: daemon threads (a pool never keeps a process alive) with names that
 * say what they do, on which the engine records no gradients unless a gradient collector asks (see
 * {@link GradMode}). Every pool that may touch an NDArray uses these.
 */
public final class EngineThreads {
    private EngineThreads() {}

    /** A factory of threads named {@code name-1}, {@code name-2}, ... */
    public static ThreadFactory factory(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> newThread(name + "-" + n.incrementAndGet(), r);
    }

    /** Starts one such thread. */
    public static Thread start(String name, Runnable body) {
        Thread t = newThread(name, body);
        t.start();
        return t;
    }

    /** One such thread, not started. */
    public static Thread newThread(String name, Runnable body) {
        Thread t = new Thread(
                () -> {
                    GradMode.disableOnThisThread();
                    body.run();
                },
                name);
        t.setDaemon(true);
        return t;
    }
}
