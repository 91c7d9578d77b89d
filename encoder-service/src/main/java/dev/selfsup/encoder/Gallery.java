package dev.selfsup.encoder;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.io.TensorArchive;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * The embeddings of images a client added, with their ids and labels, for nearest-neighbour search. Vectors are
 * stored unit-length so a dot product is the cosine. Search is brute force (one matrix product on the model's
 * device), which stays fast up to about a million vectors. The gallery is saved atomically after every change.
 *
 * <p>The file is the gallery's truth, shared by every encoder-service replica that serves the model from the same
 * store: a change is made under an exclusive lock on {@code <file>.lock}, on the file as it is then (re-read if
 * another replica wrote it since), and a search first re-reads a file that another replica changed. So replicas
 * behind a proxy answer from the same gallery, and two adding at once lose nothing.
 */
public final class Gallery {
    /** One neighbour of a query. */
    public record Hit(String id, String label, float score) {}

    /** A query's neighbours, best first, and the labels' weighted vote (null without labels). */
    public record Result(List<Hit> hits, String predictedLabel) {}

    /** Temperature of the kNN vote, as in the kNN evaluation. */
    private static final float VOTE_TEMPERATURE = 0.1f;

    private static final Logger LOG = Logger.getLogger(Gallery.class);

    private Path file;
    private final int dim;
    private final List<String> ids = new ArrayList<>();
    private final List<String> labels = new ArrayList<>();
    private final Map<String, Integer> index = new HashMap<>();
    private float[] vectors = new float[0];
    /** The file as this gallery last read or wrote it (its identity, time and size), to see another's change. */
    private Object stamp;

    /** One monitor per gallery file in this process: a JVM may not hold two locks on one file at once. */
    private static final Map<Path, Object> MONITORS = new ConcurrentHashMap<>();

    private Gallery(Path file, int dim) {
        this.file = file;
        this.dim = dim;
    }

    /** Opens the gallery saved at {@code file}, or an empty one. */
    public static Gallery open(Path file, int dim) throws IOException {
        Gallery g = new Gallery(file, dim);
        g.read();
        return g;
    }

    /**
     * Replaces the entries in memory with the file's (none when there is no file), and notes its stamp. A file that
     * cannot be read changes nothing.
     */
    private void read() throws IOException {
        Object now = currentStamp();
        if (file == null || !Files.exists(file)) {
            replace(List.of(), List.of(), Map.of(), new float[0]);
            stamp = now;
            return;
        }
        TensorArchive.Contents c = TensorArchive.read(file);
        JsonNode h = Json.MAPPER.readTree(c.header());
        List<String> readIds = Json.MAPPER.convertValue(h.path("ids"), new TypeReference<List<String>>() {});
        List<String> readLabels = Json.MAPPER.convertValue(h.path("labels"), new TypeReference<List<String>>() {});
        TensorArchive.Tensor t = c.tensors().get("embeddings");
        if (t == null || t.shape().length != 2 || t.shape()[1] != dim || t.shape()[0] != readIds.size()) {
            throw new IOException(file + ": gallery does not match the model (" + dim + "-d)");
        }
        float[] v = new float[readIds.size() * dim];
        ByteBuffer.wrap(t.data()).order(ByteOrder.nativeOrder()).asFloatBuffer().get(v);
        Map<String, Integer> readIndex = new HashMap<>();
        for (int i = 0; i < readIds.size(); i++) {
            readIndex.put(readIds.get(i), i);
        }
        replace(readIds, readLabels, readIndex, v);
        stamp = now;
    }

    /** The file's identity (a new one at every atomic save), modification time and size; "absent" without one. */
    private Object currentStamp() throws IOException {
        if (file == null || !Files.exists(file)) {
            return "absent";
        }
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        return List.of(String.valueOf(a.fileKey()), a.lastModifiedTime(), a.size());
    }

    /** Re-reads the file if another replica changed it; a file that cannot be read now leaves the entries as they are. */
    private void followFile() {
        try {
            if (file != null && !currentStamp().equals(stamp)) {
                read();
            }
        } catch (IOException | RuntimeException e) {
            LOG.warnf(
                    "the gallery %s changed but cannot be read now (%s); serving the entries held",
                    file, e.getMessage());
        }
    }

    /** Runs a change of the gallery under the file's lock, on the file as it is now. */
    private void change(Runnable edit) {
        if (file == null) {
            edit.run();
            return;
        }
        Object monitor = MONITORS.computeIfAbsent(file.toAbsolutePath().normalize(), f -> new Object());
        synchronized (monitor) {
            try {
                Files.createDirectories(file.getParent());
                try (FileChannel lock =
                                FileChannel.open(lockFile(file), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                        FileLock held = lock.lock()) {
                    if (!currentStamp().equals(stamp)) {
                        read(); // another replica changed it: build on what it wrote
                    }
                    edit.run();
                    stamp = currentStamp();
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot change the gallery " + file, e);
            }
        }
    }

    /** The lock file beside a gallery file. */
    static Path lockFile(Path galleryFile) {
        return galleryFile.resolveSibling(galleryFile.getFileName() + ".lock");
    }

    /** This (empty) gallery, saved from now on at {@code target}. */
    Gallery savedTo(Path target) {
        this.file = target;
        try {
            stamp = currentStamp();
        } catch (IOException e) {
            stamp = null;
        }
        return this;
    }

    public synchronized int size() {
        followFile();
        return ids.size();
    }

    /**
     * Adds (or replaces, by id) entries; {@code embeddings} holds {@code ids.size() * dim} values. The new gallery
     * is saved before it is served: when the save fails nothing changes, on disk or in memory.
     */
    public synchronized void add(List<String> newIds, List<String> newLabels, float[] embeddings) {
        change(() -> addHeld(newIds, newLabels, embeddings));
    }

    private void addHeld(List<String> newIds, List<String> newLabels, float[] embeddings) {
        List<String> nextIds = new ArrayList<>(ids);
        List<String> nextLabels = new ArrayList<>(labels);
        Map<String, Integer> nextIndex = new HashMap<>(index);
        float[] grown = Arrays.copyOf(vectors, (ids.size() + newIds.size()) * dim);
        int n = ids.size();
        for (int i = 0; i < newIds.size(); i++) {
            float[] v = Arrays.copyOfRange(embeddings, i * dim, (i + 1) * dim);
            normalize(v);
            Integer at = nextIndex.get(newIds.get(i));
            if (at == null) {
                at = n++;
                nextIds.add(newIds.get(i));
                nextLabels.add(newLabels.get(i));
                nextIndex.put(newIds.get(i), at);
            } else {
                nextLabels.set(at, newLabels.get(i));
            }
            System.arraycopy(v, 0, grown, at * dim, dim);
        }
        float[] nextVectors = Arrays.copyOf(grown, n * dim);
        save(nextIds, nextLabels, nextVectors);
        replace(nextIds, nextLabels, nextIndex, nextVectors);
    }

    /** Removes every entry, once the empty gallery is saved. */
    public synchronized void clear() {
        change(() -> {
            save(List.of(), List.of(), new float[0]);
            replace(List.of(), List.of(), Map.of(), new float[0]);
        });
    }

    private void replace(List<String> newIds, List<String> newLabels, Map<String, Integer> newIndex, float[] v) {
        ids.clear();
        ids.addAll(newIds);
        labels.clear();
        labels.addAll(newLabels);
        index.clear();
        index.putAll(newIndex);
        vectors = v;
    }

    /** The {@code k} nearest entries of each of {@code n} queries (raw embeddings, {@code n * dim} values). */
    public Result[] search(float[] queries, int n, int k, NDManager manager) {
        float[] snapshot;
        List<String> idSnap;
        List<String> labelSnap;
        synchronized (this) {
            followFile();
            snapshot = vectors;
            idSnap = List.copyOf(ids);
            labelSnap = List.copyOf(labels);
        }
        int size = idSnap.size();
        Result[] out = new Result[n];
        if (size == 0) {
            Arrays.fill(out, new Result(List.of(), null));
            return out;
        }
        float[] q = queries.clone();
        for (int i = 0; i < n; i++) {
            normalize(q, i * dim, dim);
        }
        int kk = Math.min(k, size);
        float[] scores;
        long[] order;
        try (NDManager m = manager.newSubManager()) {
            NDArray g = m.create(snapshot, new Shape(size, dim));
            NDArray qa = m.create(q, new Shape(n, dim));
            NDList top = qa.matMul(g.transpose()).topK(kk, 1, true, true);
            scores = top.get(0).toFloatArray();
            order = top.get(1).toLongArray();
        }
        boolean labelled = labelSnap.stream().anyMatch(l -> !l.isEmpty());
        for (int i = 0; i < n; i++) {
            List<Hit> hits = new ArrayList<>(kk);
            Map<String, Double> votes = new LinkedHashMap<>();
            for (int j = 0; j < kk; j++) {
                int at = (int) order[i * kk + j];
                float s = scores[i * kk + j];
                hits.add(new Hit(idSnap.get(at), labelSnap.get(at), s));
                if (!labelSnap.get(at).isEmpty()) {
                    votes.merge(labelSnap.get(at), Math.exp(s / VOTE_TEMPERATURE), Double::sum);
                }
            }
            String predicted = labelled
                    ? votes.entrySet().stream()
                            .max(Map.Entry.comparingByValue())
                            .map(Map.Entry::getKey)
                            .orElse(null)
                    : null;
            out[i] = new Result(hits, predicted);
        }
        return out;
    }

    private void save(List<String> savedIds, List<String> savedLabels, float[] savedVectors) {
        if (file == null) {
            return;
        }
        try {
            byte[] data = new byte[savedVectors.length * Float.BYTES];
            ByteBuffer.wrap(data).order(ByteOrder.nativeOrder()).asFloatBuffer().put(savedVectors);
            Map<String, Object> header = new LinkedHashMap<>();
            header.put("kind", "gallery");
            header.put("ids", savedIds);
            header.put("labels", savedLabels);
            Files.createDirectories(file.getParent());
            TensorArchive.write(
                    file,
                    Json.write(header),
                    Map.of("embeddings", new TensorArchive.Tensor("FLOAT32", new long[] {savedIds.size(), dim}, data)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save the gallery " + file, e);
        }
    }

    static void normalize(float[] v) {
        normalize(v, 0, v.length);
    }

    static void normalize(float[] v, int from, int len) {
        double s = 0;
        for (int i = from; i < from + len; i++) {
            s += (double) v[i] * v[i];
        }
        float inv = (float) (1.0 / Math.max(Math.sqrt(s), 1e-12));
        for (int i = from; i < from + len; i++) {
            v[i] *= inv;
        }
    }
}
