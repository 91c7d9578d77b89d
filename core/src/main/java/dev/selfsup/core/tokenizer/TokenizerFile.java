package dev.selfsup.core.tokenizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import com.fasterxml.jackson.databind.JsonNode;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.io.TensorArchive;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/** Saves and loads tokenizers (both kinds) as a tensor archive with a JSON header, written atomically. */
public final class TokenizerFile {
    private static final String KIND = "tokenizer";

    private TokenizerFile() {}

    /**
     * The header of a tokenizer file: what it is, how good, and where it came from.
     *
     * @param dataset the training data's name and {@code fingerprint}
     * @param steps training steps (0 for k-means)
     * @param seed the seed of its training
     */
    public record Header(
            String kind,
            int formatVersion,
            String name,
            TokenizerSpec spec,
            TokenizerQuality quality,
            String dataset,
            String fingerprint,
            long steps,
            long seed,
            Instant created) {}

    /** A loaded tokenizer and its header. */
    public record Loaded(VisualTokenizer tokenizer, Header header) {}

    public static void write(Path file, VisualTokenizer t, Header header) throws IOException {
        TensorArchive.write(file, Json.write(header), tensors(t));
    }

    private static Map<String, TensorArchive.Tensor> tensors(VisualTokenizer t) {
        Map<String, TensorArchive.Tensor> out = new LinkedHashMap<>();
        if (t instanceof VqTokenizer vq) {
            for (Pair<String, Parameter> p : vq.trainable().getParameters()) {
                out.put(
                        "net/" + p.getKey(),
                        TensorArchive.Tensor.of(p.getValue().getArray()));
            }
            out.put("codebook/codes", TensorArchive.Tensor.of(vq.quantizer().codes()));
            out.put("codebook/counts", TensorArchive.Tensor.of(vq.quantizer().counts()));
            out.put("codebook/sums", TensorArchive.Tensor.of(vq.quantizer().sums()));
        } else if (t instanceof PatchKMeansTokenizer km) {
            out.put("centroids", TensorArchive.Tensor.of(km.centroids()));
        } else {
            throw new IllegalArgumentException("cannot save a " + t.getClass().getSimpleName());
        }
        return out;
    }

    public static Loaded read(Path file, NDManager manager) throws IOException {
        return load(TensorArchive.read(file), file.toString(), manager);
    }

    public static Loaded read(InputStream in, String source, NDManager manager) throws IOException {
        return load(TensorArchive.read(in, source), source, manager);
    }

    private static Loaded load(TensorArchive.Contents c, String source, NDManager manager) throws IOException {
        JsonNode node = Json.MAPPER.readTree(c.header());
        if (!KIND.equals(node.path("kind").asText())) {
            throw new IOException(
                    source + ": not a tokenizer (kind '" + node.path("kind").asText() + "')");
        }
        Header h = Json.MAPPER.treeToValue(node, Header.class);
        try {
            if (TokenizerSpec.VQ.equals(h.spec().kind())) {
                VqTokenizer vq = new VqTokenizer(h.spec(), manager, 0.99f, 1f);
                for (Pair<String, Parameter> p : vq.trainable().getParameters()) {
                    tensor(c, "net/" + p.getKey(), source).copyInto(p.getValue().getArray(), p.getKey());
                }
                tensor(c, "codebook/codes", source).copyInto(vq.quantizer().codes(), "codes");
                tensor(c, "codebook/counts", source).copyInto(vq.quantizer().counts(), "counts");
                tensor(c, "codebook/sums", source).copyInto(vq.quantizer().sums(), "sums");
                vq.quantizer().initialisedFlag().set(new NDIndex(":"), 1f);
                return new Loaded(vq, h);
            }
            TensorArchive.Tensor t = tensor(c, "centroids", source);
            NDArray centroids = manager.zeros(t.djlShape(), t.djlType());
            t.copyInto(centroids, "centroids");
            return new Loaded(new PatchKMeansTokenizer(h.spec(), centroids), h);
        } catch (IllegalArgumentException e) {
            throw new IOException(source + ": " + e.getMessage(), e);
        }
    }

    private static TensorArchive.Tensor tensor(TensorArchive.Contents c, String name, String source)
            throws IOException {
        TensorArchive.Tensor t = c.tensors().get(name);
        if (t == null) {
            throw new IOException(source + ": tensor '" + name + "' is missing");
        }
        return t;
    }
}
