/**
 * Small composable pieces the methods train with: losses and heads.
 */
package dev.selfsup.core.nn;
