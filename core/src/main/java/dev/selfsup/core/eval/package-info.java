/**
 * Scoring an encoder with labels: features, kNN classifier and linear probe.
 */
package dev.selfsup.core.eval;
