/**
 * Clustering on the host and the device: k-means, PCA with whitening, normalised mutual information (DeepCluster).
 */
package dev.selfsup.core.cluster;
