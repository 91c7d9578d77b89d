/**
 * Optimizers that update parameters on the device (SGD with momentum, LARS, AdamW) and learning-rate schedules.
 */
package dev.selfsup.core.optim;
