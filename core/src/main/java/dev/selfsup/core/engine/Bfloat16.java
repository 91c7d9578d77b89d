package dev.selfsup.core.engine;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.function.Supplier;

/**
 * Mixed-precision regions: inside one, on the thread that opened it, libtorch's autocast runs convolutions, linear
 * layers and matrix products in bfloat16 (float32 weights are cast on the way in and gradients flow back to them
 * in float32; batch norm keeps float32 statistics). DJL 0.29 cannot make or read a bfloat16 array, so a region must
 * hand float32 back ({@link #toFloat32}): {@link dev.selfsup.core.method.BatchForward} casts a network's output
 * before the loss sees it.
 */
public final class Bfloat16 {
    private Bfloat16() {}

    /**
     * Loads the shim and says whether bfloat16 can be used here (a container image runs it when it is built, which
     * also unpacks the shim into {@code SELFSUP_NATIVE_DIR}). Exits 0 either way: without it runs train in float32.
     */
    public static void main(String[] args) {
        String problem = unavailableReason();
        System.out.println(problem == null ? "bfloat16: available" : "bfloat16: " + problem);
    }

    /** Null when regions work in this process (the shim is built and this libtorch has autocast); else why not. */
    public static String unavailableReason() {
        return TorchNative.problem();
    }

    /**
     * Opens a region for work on {@code device} on the calling thread.
     *
     * @throws IllegalStateException when {@link #unavailableReason} is not null
     */
    public static Region enter(Device device) {
        String problem = unavailableReason();
        if (problem != null) {
            throw new IllegalStateException("bfloat16 is not available: " + problem);
        }
        boolean gpu = device.isGpu();
        return new Region(gpu, TorchNative.enterBfloat16(gpu));
    }

    /**
     * Runs {@code work} (a network's forward pass) inside a region on {@code device} and returns its output as
     * float32 ({@link #toFloat32}), ready for a loss or for DJL calls that must not see bfloat16.
     */
    public static NDArray compute(Device device, Supplier<NDArray> work) {
        NDArray out;
        try (Region region = enter(device)) {
            out = work.get();
        }
        return toFloat32(out);
    }

    /**
     * {@code x} as float32, with its gradient path kept. DJL's own cast ({@code toType}) cuts the autograd graph, so
     * the gradient would never reach the weights; adding a float32 zero of one element (a dimensioned operand, so
     * type promotion widens the result to float32) is a cast autograd records. A float32 array comes back as is.
     */
    public static NDArray toFloat32(NDArray x) {
        if (x.getDataType() == DataType.FLOAT32) {
            return x;
        }
        return x.add(x.getManager().zeros(new Shape(1), DataType.FLOAT32, x.getDevice()));
    }

    /** Whether a region is open on the calling thread for {@code device}'s kind (for tests). */
    public static boolean active(Device device) {
        return unavailableReason() == null && TorchNative.enabled(device.isGpu());
    }

    /** An open region; closing it restores what was before, on the same thread. */
    public static final class Region implements AutoCloseable {
        private final boolean gpu;
        private final int previous;
        private boolean closed;

        private Region(boolean gpu, int previous) {
            this.gpu = gpu;
            this.previous = previous;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                TorchNative.exit(gpu, previous);
            }
        }
    }
}
