package dev.selfsup.proto;

/**
 * The two roles of the suite, next to the API they guard: every service method names one ({@code @RolesAllowed}).
 * A reader calls what only reads (embedding, search, tokenizing, listing and watching); an operator may also start,
 * change and delete (runs, models, galleries, tokenizers, uploaded datasets). An operator token carries both roles.
 */
public final class Roles {
    /** Reads: Embed, Search, Tokenize, Decode, Get/List, WatchRun, the server info. */
    public static final String READER = "reader";
    /** Starts, changes or deletes: runs, publishing and unloading models, galleries, tokenizer training. */
    public static final String OPERATOR = "operator";

    private Roles() {}
}
