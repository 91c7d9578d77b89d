/**
 * Datasets and their readers (IDX, CIFAR binary, image folders), epoch order and batch loading.
 */
package dev.selfsup.core.data;
