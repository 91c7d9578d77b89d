package dev.selfsup.core.tokenizer;

/**
 * Where BEiT gets the target tokens of its views: a tokenizer in this process, or a tokenizer-service over the
 * network. Called from BEiT's prefetch thread, ahead of the step that needs the tokens; it may block.
 */
public interface VisualTokenSource extends AutoCloseable {
    /** The tokenizer's spec: its grid must match the ViT's. */
    TokenizerSpec spec();

    /**
     * Token ids of {@code count} images given as uint8 CHW bytes ({@code count x C x S x S}).
     *
     * @return {@code count x G x G} ids, row-major
     */
    long[] tokenize(byte[] images, int count) throws Exception;

    @Override
    default void close() {}
}
