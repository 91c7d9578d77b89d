/**
 * Worker processes that train one run together: the job every rank reads, the entry point each rank runs (started
 * by the trainer-service on its host, or by a cluster's launcher from environment variables), and the starting and
 * watching of a run's local workers.
 */
package dev.selfsup.core.workers;
