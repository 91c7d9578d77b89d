/**
 * The pretraining loop: configuration, checkpoints, provenance, listeners and the exported encoder bundle.
 */
package dev.selfsup.core.train;
