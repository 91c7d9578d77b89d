package dev.selfsup.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import com.fasterxml.jackson.databind.JsonNode;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.io.TensorArchive;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A trained encoder as one file: its architecture, its provenance and its parameters. This is what the trainer
 * exports and the encoder-service serves; it rebuilds the network from the spec, so no code travels with it.
 */
public final class EncoderBundle {
    /** The header of an encoder file. */
    public record Header(
            String kind, int formatVersion, BackboneSpec backbone, int featureDim, Provenance provenance) {}

    /** A loaded encoder: the block (parameters on the manager's device) and its header. */
    public record Loaded(Block encoder, Header header) {}

    private static final String KIND = "encoder";

    private EncoderBundle() {}

    /** Writes {@code encoder} (built from {@code spec}) atomically to {@code file}. */
    public static void write(Path file, Block encoder, BackboneSpec spec, Provenance provenance) throws IOException {
        TensorArchive.write(
                file, Json.write(new Header(KIND, 1, spec, spec.featureDim(), provenance)), tensors(encoder));
    }

    /** The encoder file's bytes, e.g. for a stream of chunks. */
    public static byte[] toBytes(Block encoder, BackboneSpec spec, Provenance provenance) throws IOException {
        return TensorArchive.toBytes(
                Json.write(new Header(KIND, 1, spec, spec.featureDim(), provenance)), tensors(encoder));
    }

    private static Map<String, TensorArchive.Tensor> tensors(Block encoder) {
        Map<String, TensorArchive.Tensor> t = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : encoder.getParameters()) {
            t.put(p.getKey(), TensorArchive.Tensor.of(p.getValue().getArray()));
        }
        return t;
    }

    /** The largest input side a bundle may declare when the reader sets no bound of its own. */
    public static final int MAX_INPUT_SIZE = 4096;

    public static Loaded read(Path file, NDManager manager) throws IOException {
        return load(TensorArchive.read(file), file.toString(), manager, MAX_INPUT_SIZE);
    }

    public static Loaded read(InputStream in, String source, NDManager manager) throws IOException {
        return load(TensorArchive.read(in, source), source, manager, MAX_INPUT_SIZE);
    }

    /**
     * Reads a bundle whose encoder takes images of at most {@code maxInputSize} pixels a side: the bound is checked
     * on the header, before the network is built (building it at the declared size allocates).
     *
     * @throws IOException if the file is not an encoder bundle, or declares a larger input
     */
    public static Loaded read(InputStream in, String source, NDManager manager, int maxInputSize) throws IOException {
        return load(TensorArchive.read(in, source), source, manager, maxInputSize);
    }

    private static Loaded load(TensorArchive.Contents c, String source, NDManager manager, int maxInputSize)
            throws IOException {
        JsonNode node = Json.MAPPER.readTree(c.header());
        if (!KIND.equals(node.path("kind").asText())) {
            throw new IOException(source + ": not an encoder bundle (kind '"
                    + node.path("kind").asText() + "')");
        }
        Header header = Json.MAPPER.treeToValue(node, Header.class);
        BackboneSpec spec = header.backbone();
        if (spec == null || spec.imageSize() < 1 || spec.imageSize() > maxInputSize) {
            throw new InputTooLargeException(source + ": its encoder takes "
                    + (spec == null ? "no declared" : spec.imageSize() + " px") + " images; at most " + maxInputSize
                    + " px are served here");
        }
        if (spec.channels() != 1 && spec.channels() != 3) {
            throw new IOException(
                    source + ": its encoder takes " + spec.channels() + "-channel images; 1 or 3 are " + "served");
        }
        Block block = Backbones.build(spec);
        block.initialize(manager, DataType.FLOAT32, new Shape(1, spec.channels(), spec.imageSize(), spec.imageSize()));
        for (Pair<String, Parameter> p : block.getParameters()) {
            TensorArchive.Tensor t = c.tensors().get(p.getKey());
            if (t == null) {
                throw new IOException(source + ": parameter '" + p.getKey() + "' of " + spec + " is missing");
            }
            try {
                t.copyInto(p.getValue().getArray(), p.getKey());
            } catch (IllegalArgumentException e) {
                throw new IOException(source + ": " + e.getMessage(), e);
            }
        }
        if (c.tensors().size() != block.getParameters().size()) {
            throw new IOException(source + ": has " + c.tensors().size() + " tensors, " + spec + " has "
                    + block.getParameters().size() + " parameters");
        }
        return new Loaded(block, header);
    }

    /** A bundle declares an input larger than the reader serves. */
    public static final class InputTooLargeException extends IOException {
        InputTooLargeException(String message) {
            super(message);
        }
    }

    /** Runs the encoder in inference mode on float32 [B, C, H, W] images in [0, 1]. */
    public static NDArray embed(Block encoder, NDArray images) {
        return encoder.forward(new ParameterStore(images.getManager(), false), new NDList(images), false)
                .singletonOrThrow();
    }
}
