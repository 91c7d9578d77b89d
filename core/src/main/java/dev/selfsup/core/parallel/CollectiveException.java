package dev.selfsup.core.parallel;

/**
 * A collective operation across worker processes failed: a peer closed its connection (it died), did not answer
 * within the timeout (it hangs), or the rendezvous did not complete. The run cannot go on in step with the others;
 * it resumes from its last checkpoint.
 */
public class CollectiveException extends RuntimeException {
    /** @param message what failed, in the collective engine's words */
    public CollectiveException(String message) {
        super(message);
    }

    /** @param message what failed */
    public CollectiveException(String message, Throwable cause) {
        super(message, cause);
    }
}
