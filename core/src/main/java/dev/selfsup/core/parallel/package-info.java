/**
 * Data-parallel training: one step's batch split over replicas of the model on several devices, their gradients
 * summed into one set of parameters, batch norm per replica or synchronised.
 */
package dev.selfsup.core.parallel;
