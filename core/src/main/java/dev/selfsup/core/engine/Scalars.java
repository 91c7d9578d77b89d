package dev.selfsup.core.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.util.function.BinaryOperator;

/**
 * Arithmetic between an array and a plain number, with the number held in memory the engine owns. This is the
 * only way this code base multiplies, divides or raises an array by a number.
 *
 * <p>Why: DJL 0.29's {@code NDArray.mul(Number)}, {@code div(Number)}, {@code pow(Number)}, {@code maximum(Number)}
 * and {@code minimum(Number)} (and their in-place forms) wrap the number in a CPU tensor whose memory is a Java
 * direct buffer, and close that tensor as soon as the operation returns. When the engine records gradients, the
 * operation keeps the number for the backward pass; the buffer is freed at the next garbage collection and its
 * memory reused, so the backward pass reads whatever was written there since: a wrong gradient now and then, a
 * NaN loss some steps later. {@code ScalarLifetimeTest} shows it happening with DJL's methods and not with these.
 * Addition and subtraction keep nothing for the backward pass, so they may take a number directly.
 */
public final class Scalars {
    private Scalars() {}

    /**
     * A 0-dimensional array holding {@code value}, on {@code like}'s device, in memory the engine owns: float64
     * when {@code like} is float64, float32 otherwise (an array op a 0-dimensional float keeps the array's float
     * type; an integer array becomes float32, as with DJL's own methods given a float).
     */
    public static NDArray of(NDArray like, double value) {
        DataType type = like.getDataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
        if (like instanceof PtNDArray pt) {
            return JniUtils.full(
                    (PtNDManager) pt.getManager(), new Shape(), value, type, like.getDevice(), SparseFormat.DENSE);
        }
        return like.getManager().full(new Shape(), (float) value, type, like.getDevice());
    }

    /** {@code x * value}. */
    public static NDArray mul(NDArray x, double value) {
        return apply(x, value, NDArray::mul);
    }

    /** {@code x / value}. */
    public static NDArray div(NDArray x, double value) {
        return apply(x, value, NDArray::div);
    }

    /** {@code x} to the power {@code value}. */
    public static NDArray pow(NDArray x, double value) {
        return apply(x, value, NDArray::pow);
    }

    /** The element-wise maximum of {@code x} and {@code value}. */
    public static NDArray maximum(NDArray x, double value) {
        return apply(x, value, NDArray::maximum);
    }

    /** The element-wise minimum of {@code x} and {@code value}. */
    public static NDArray minimum(NDArray x, double value) {
        return apply(x, value, NDArray::minimum);
    }

    /** Multiplies {@code x} by {@code value} in place and returns it. */
    public static NDArray muli(NDArray x, double value) {
        return apply(x, value, NDArray::muli);
    }

    /** Divides {@code x} by {@code value} in place and returns it. */
    public static NDArray divi(NDArray x, double value) {
        return apply(x, value, NDArray::divi);
    }

    /** Raises {@code x} to the power {@code value} in place and returns it. */
    public static NDArray powi(NDArray x, double value) {
        return apply(x, value, NDArray::powi);
    }

    // The number is closed at once, as DJL does; the engine keeps its own reference for the backward pass.
    private static NDArray apply(NDArray x, double value, BinaryOperator<NDArray> op) {
        try (NDArray s = of(x, value)) {
            return op.apply(x, s);
        }
    }
}
