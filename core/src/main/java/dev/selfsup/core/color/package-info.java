/**
 * Colour spaces and the quantized ab bins of colorization: CIE Lab conversion on the device.
 */
package dev.selfsup.core.color;
