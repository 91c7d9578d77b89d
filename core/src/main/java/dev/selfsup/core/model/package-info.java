/**
 * Encoders: the backbone specification, the ConvNets and the Vision Transformer.
 */
package dev.selfsup.core.model;
