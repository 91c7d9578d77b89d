/**
 * Batched image augmentations as tensor ops on the device: crops, flips, colour jitter, blur, grayscale.
 */
package dev.selfsup.core.augment;
