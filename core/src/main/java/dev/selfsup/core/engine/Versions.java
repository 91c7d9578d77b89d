package dev.selfsup.core.engine;

import ai.djl.engine.Engine;

/** The versions of what computes here, for provenance records and the info call. */
public final class Versions {
    private Versions() {}

    /** The selfsup version from the core jar's manifest ("dev" when run from classes). */
    public static String selfsup() {
        String v = Versions.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    /** The DJL version in use. */
    public static String djl() {
        String v = Engine.class.getPackage().getImplementationVersion();
        return v == null ? "0.29.0" : v;
    }

    /** The default engine's name and version, e.g. "PyTorch 2.3.1" (loads the engine). */
    public static String engine() {
        Engine e = Engine.getInstance();
        return e.getEngineName() + " " + e.getVersion();
    }
}
