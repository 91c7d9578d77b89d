/**
 * Files: JSON and the tensor archive that checkpoints and bundles are written in.
 */
package dev.selfsup.core.io;
