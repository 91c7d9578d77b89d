package dev.selfsup.encoder;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.train.EncoderBundle;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;

/** Encoder bundles made with core for the tests, and the embeddings core computes from them in-process. */
final class TestBundles {
    private TestBundles() {}

    /** A randomly initialised small ConvNet as bundle bytes. */
    static byte[] convnet(int channels, int size, int width, int depth, long seed) {
        return of(BackboneSpec.SMALL_CONVNET, channels, size, width, depth, seed);
    }

    /** A randomly initialised backbone of any type as bundle bytes. */
    static byte[] of(String type, int channels, int size, int width, int depth, long seed) {
        float[] mean = new float[channels];
        float[] std = new float[channels];
        Arrays.fill(mean, 0.3f);
        Arrays.fill(std, 0.25f);
        BackboneSpec spec = new BackboneSpec(type, width, depth, channels, size, mean, std);
        Engine.getInstance().setRandomSeed((int) seed);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Block b = Backbones.build(spec);
            b.initialize(m, DataType.FLOAT32, new Shape(1, channels, size, size));
            return EncoderBundle.toBytes(b, spec, null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A small ConvNet whose header declares {@code declaredSize} px inputs (its weights do not depend on it). */
    static byte[] convnetDeclaring(int declaredSize) {
        float[] mean = {0.3f};
        float[] std = {0.25f};
        BackboneSpec spec = new BackboneSpec(BackboneSpec.SMALL_CONVNET, 8, 1, 1, declaredSize, mean, std);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Block b = Backbones.build(spec);
            b.initialize(m, DataType.FLOAT32, new Shape(1, 1, 16, 16));
            return EncoderBundle.toBytes(b, spec, null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What core computes in-process for {@code n} CHW images in [0, 1]. */
    static float[] embedInProcess(byte[] bundle, float[] pixels, int n) {
        GradMode.disableOnThisThread();
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            EncoderBundle.Loaded l = EncoderBundle.read(new ByteArrayInputStream(bundle), "test", m);
            BackboneSpec s = l.header().backbone();
            NDArray x = m.create(pixels, new Shape(n, s.channels(), s.imageSize(), s.imageSize()));
            return EncoderBundle.embed(l.encoder(), x).toFloatArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
