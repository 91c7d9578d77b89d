/**
 * Settings as records, read and changed by name: the one mapping between a record's components and the
 * snake_case keys that the API, provenance and the command lines use.
 */
package dev.selfsup.core.config;
