package dev.selfsup.core.tokenizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.engine.Scalars;
import java.nio.ByteBuffer;

/** Tokens from a tokenizer in this process (tests, benchmarks, and runs without a tokenizer-service). */
public final class LocalTokenSource implements VisualTokenSource {
    private final VisualTokenizer tokenizer;
    private final NDManager manager;

    /** @param manager where the tokenizer's parameters live; calls use sub-managers of it */
    public LocalTokenSource(VisualTokenizer tokenizer, NDManager manager) {
        this.tokenizer = tokenizer;
        this.manager = manager;
    }

    @Override
    public TokenizerSpec spec() {
        return tokenizer.spec();
    }

    @Override
    public synchronized long[] tokenize(byte[] images, int count) {
        GradMode.disableOnThisThread();
        TokenizerSpec s = tokenizer.spec();
        try (NDManager m = manager.newSubManager()) {
            ByteBuffer buf =
                    ByteBuffer.allocateDirect(images.length).put(images).flip();
            NDArray x = Scalars.divi(
                    m.create(buf, new Shape(count, s.channels(), s.imageSize(), s.imageSize()), DataType.UINT8)
                            .toDevice(manager.getDevice(), false)
                            .toType(DataType.FLOAT32, false),
                    255f);
            return tokenizer.tokenize(x).toType(DataType.INT64, false).toLongArray();
        }
    }
}
