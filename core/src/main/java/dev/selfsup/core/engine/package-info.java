/**
 * The deep-learning engine as a process sees it: devices, grad mode, intra-op threads, versions, engine info.
 * Everything that trains or serves reaches the engine through {@link dev.selfsup.core.engine.Devices}, which
 * verifies its numerics first ({@link dev.selfsup.core.numerics.NumericsGuard}).
 */
package dev.selfsup.core.engine;
