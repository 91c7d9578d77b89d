package dev.selfsup.core.method;

/**
 * The data cannot train this method, e.g. colorization on grayscale images. Unlike a bad setting, the request is
 * well formed: it needs other data (a service answers FAILED_PRECONDITION).
 */
public class UnsuitableDataException extends RuntimeException {
    public UnsuitableDataException(String message) {
        super(message);
    }
}
