package dev.selfsup.core.parallel;

import java.nio.ByteBuffer;

/**
 * The collective operations worker processes of one run use to stay in step: every rank calls the same operations
 * in the same order. Buffers are direct (off-heap) and in native byte order, so the engine reads and writes them
 * without a copy. A failed or timed-out operation throws {@link CollectiveException}.
 */
public interface Collective extends AutoCloseable {
    /** This process's rank, from 0. */
    int rank();

    /** The number of ranks. */
    int size();

    /** Sums {@code floats} floats from the start of {@code buffer} over every rank, in place; every rank gets the same sum. */
    void allReduceSum(ByteBuffer buffer, int floats);

    /** Rank r's {@code bytes} bytes of {@code in} land at {@code [r * bytes, (r + 1) * bytes)} of {@code out} on every rank. */
    void allGather(ByteBuffer in, ByteBuffer out, long bytes);

    /** Rank {@code root}'s first {@code bytes} bytes of {@code buffer} replace every other rank's. */
    void broadcast(ByteBuffer buffer, long bytes, int root);

    /** Returns once every rank has called it. */
    void barrier();

    /** Bytes this rank handed to collectives so far (its share of the traffic). */
    long bytes();

    /** Nanoseconds this rank spent inside collectives so far (waiting for slower ranks included). */
    long nanos();

    @Override
    void close();
}
