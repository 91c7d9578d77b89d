package dev.selfsup.service;

/**
 * A store's refusal of a request, with a message for the person who sent it: what the registries and stores throw
 * (models, tokenizers, uploaded datasets), knowing nothing of gRPC. {@link GrpcErrors} maps each reason to its
 * status once, for every service.
 */
public final class Refusal extends RuntimeException {
    /** Why a request was refused; each maps to one gRPC status. */
    public enum Reason {
        /** The thing named does not exist (NOT_FOUND). */
        NOT_FOUND,
        /** A thing of that name exists already (ALREADY_EXISTS). */
        EXISTS,
        /** The thing's state does not allow it now (FAILED_PRECONDITION). */
        WRONG_STATE,
        /** A bound or quota would be passed (RESOURCE_EXHAUSTED). */
        QUOTA,
        /** A value breaks a rule (INVALID_ARGUMENT). */
        INVALID,
        /** The store cannot do it at the moment (UNAVAILABLE). */
        UNAVAILABLE
    }

    private final Reason reason;

    private Refusal(Reason reason, String message) {
        super(message, null, false, false); // a refusal is not a bug: no stack trace to fill
        this.reason = reason;
    }

    /** Why it was refused. */
    public Reason reason() {
        return reason;
    }

    public static Refusal notFound(String message) {
        return new Refusal(Reason.NOT_FOUND, message);
    }

    public static Refusal exists(String message) {
        return new Refusal(Reason.EXISTS, message);
    }

    public static Refusal wrongState(String message) {
        return new Refusal(Reason.WRONG_STATE, message);
    }

    public static Refusal quota(String message) {
        return new Refusal(Reason.QUOTA, message);
    }

    public static Refusal invalid(String message) {
        return new Refusal(Reason.INVALID, message);
    }

    public static Refusal unavailable(String message) {
        return new Refusal(Reason.UNAVAILABLE, message);
    }
}
