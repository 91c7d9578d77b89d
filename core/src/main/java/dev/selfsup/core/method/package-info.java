/**
 * The self-supervised methods, one class each behind {@link dev.selfsup.core.method.SslMethod}, and what they
 * share: step and epoch contexts, resources from outside the process.
 */
package dev.selfsup.core.method;
