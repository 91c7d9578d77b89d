/**
 * Correct numbers on every CPU: the instruction-set policy for oneDNN and the self-check of the engine's ops
 * against float64 references (docs/numerics.md).
 */
package dev.selfsup.core.numerics;
