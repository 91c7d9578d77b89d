/**
 * Bulk embedding on Apache Spark: a job that reads an image folder or Parquet rows of encoded images, embeds them
 * with a published encoder bundle through the encoder-service's own code ({@code BundleEmbedder}) on every executor,
 * and writes Parquet. Spark is provided by the cluster; this module adds the job only.
 */
package dev.selfsup.spark;
