/**
 * BEiT's visual tokenizers (VQ with an EMA codebook, k-means of patches), their training and files.
 */
package dev.selfsup.core.tokenizer;
