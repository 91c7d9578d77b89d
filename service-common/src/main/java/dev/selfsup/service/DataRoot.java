package dev.selfsup.service;

import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.DatasetSource;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.data.ImageFileStore;
import dev.selfsup.core.data.ReadOptions;
import dev.selfsup.proto.v1.DatasetRef;
import io.grpc.Status;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.configuration.MemorySize;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The folder datasets are read from. Nothing outside it can be named: absolute paths, {@code ..} and symlinks
 * that lead out are refused with PERMISSION_DENIED. Recently read datasets are kept in memory.
 */
@ApplicationScoped
public class DataRoot {
    private static final Logger LOG = Logger.getLogger(DataRoot.class);

    /** The dataset a request that names none gets. */
    public static final String DEFAULT_DATASET = "fashion-mnist";

    @ConfigProperty(name = "selfsup.data-root", defaultValue = "/usr/share/datasets")
    Path root;

    /**
     * Image folders whose decoded pixels exceed this (e.g. 512M) stay on disk and are decoded as batches need them;
     * unset: a quarter of the heap.
     */
    @ConfigProperty(name = "selfsup.data.in-memory-max")
    Optional<MemorySize> inMemoryMax;

    /** Threads that decode images from disk; 0: one per processor. */
    @ConfigProperty(name = "selfsup.data.decode-threads", defaultValue = "0")
    int decodeThreads;

    @Inject
    MeterRegistry registry;

    /** Datasets clients uploaded (opened only when a request names one). */
    @Inject
    Instance<DatasetStore> uploads;

    private final Map<String, ImageDataset> cache = new LinkedHashMap<>(4, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ImageDataset> e) {
            return size() > 4;
        }
    };

    /** The folder a client's path names, checked to be inside the data root. */
    public Path resolve(String relative) {
        String rel = relative == null || relative.isBlank() ? DEFAULT_DATASET : relative.trim();
        Path p = Path.of(rel);
        if (p.isAbsolute()) {
            throw Status.PERMISSION_DENIED
                    .withDescription("dataset.path '" + rel + "' is absolute; give a path relative to the data root "
                            + "(the server's selfsup.data-root)" + available())
                    .asRuntimeException();
        }
        try {
            Path base = root.toRealPath();
            Path target = base.resolve(p).normalize();
            if (!target.startsWith(base)) {
                throw Status.PERMISSION_DENIED
                        .withDescription("dataset.path '" + rel + "' leaves the data root")
                        .asRuntimeException();
            }
            if (!Files.exists(target)) {
                throw Status.NOT_FOUND
                        .withDescription("dataset '" + rel + "' not found under the data root (the server's "
                                + "selfsup.data-root)" + available())
                        .asRuntimeException();
            }
            Path real = target.toRealPath();
            if (!real.startsWith(base)) {
                throw Status.PERMISSION_DENIED
                        .withDescription("dataset.path '" + rel + "' is a link that leads out of the data root")
                        .asRuntimeException();
            }
            return real;
        } catch (IOException e) {
            LOG.errorf("the data root %s is not readable: %s", root, e.getMessage());
            throw Status.UNAVAILABLE
                    .withDescription(
                            "the data root is not readable on the server (its log says why); the operator must "
                                    + "fix selfsup.data-root")
                    .asRuntimeException();
        }
    }

    /** The most dataset folders an error lists. */
    static final int LISTED = 20;

    /**
     * What a client may name instead: "; datasets there: a, b" (the first {@link #LISTED} folders, by name), or ""
     * when the root cannot be read or holds none.
     */
    String available() {
        try (var entries = Files.list(root)) {
            var names = entries.filter(Files::isDirectory)
                    .map(f -> f.getFileName().toString())
                    .filter(n -> !n.startsWith("."))
                    .sorted()
                    .toList();
            if (names.isEmpty()) {
                return "; it holds no dataset folder";
            }
            String listed = String.join(", ", names.subList(0, Math.min(LISTED, names.size())));
            return "; datasets there: " + listed
                    + (names.size() > LISTED ? " and " + (names.size() - LISTED) + " more" : "");
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /**
     * A reader's message as a client may see it: the dataset's folder named as the client wrote it, the data root
     * not at all (a client learns nothing of the server's file system).
     */
    private String forClient(String message, Path dir, String asWritten) {
        String m = message == null ? "" : message;
        m = m.replace(dir.toString(), "'" + asWritten + "'");
        try {
            m = m.replace(root.toRealPath().toString(), "<data root>");
        } catch (IOException ignored) {
            // nothing to hide that the client could learn from here
        }
        return m.replace(root.toAbsolutePath().toString(), "<data root>");
    }

    /**
     * Where a dataset is read from and how, as another process (a training run's worker) reads it: what
     * {@link #load} reads, without labels.
     */
    public synchronized DatasetSource source(DatasetRef ref, String defaultSplit) {
        return sourceAndKey(ref, defaultSplit).getKey();
    }

    private Map.Entry<DatasetSource, String> sourceAndKey(DatasetRef ref, String defaultSplit) {
        String split = ref.getSplit().isBlank() ? defaultSplit : ref.getSplit();
        boolean uploaded = !ref.getUploaded().isEmpty();
        Path dir;
        String key;
        if (uploaded) {
            // The split's own folder, read as an image folder; the checksum keys the cache (a name can be reused).
            var folder = uploads.get().readyFolder(ref.getUploaded(), split);
            dir = folder.getKey();
            key = "uploaded|" + ref.getUploaded() + "|" + folder.getValue();
        } else {
            dir = resolve(ref.getPath());
            key = dir + "|" + ref.getFormat();
        }
        int channels = ref.getChannels() == 0 ? 3 : ref.getChannels();
        int size = ref.getImageSize() == 0 ? 32 : ref.getImageSize();
        key += "|" + split + "|" + channels + "|" + size;
        DatasetSource source = new DatasetSource(
                dir,
                uploaded ? DatasetLoader.Format.IMAGE_FOLDER : format(ref),
                split,
                channels,
                size,
                Math.max(0, ref.getLimit()),
                new ReadOptions(inMemoryMax.map(MemorySize::asLongValue).orElse(0L), decodeThreads));
        return Map.entry(source, key);
    }

    /** Reads a dataset; a file that cannot be read is INVALID_ARGUMENT with the reader's message. */
    public synchronized ImageDataset load(DatasetRef ref, String defaultSplit) {
        Map.Entry<DatasetSource, String> sk = sourceAndKey(ref, defaultSplit);
        DatasetSource source = sk.getKey();
        Path dir = source.dir();
        String key = sk.getValue();
        ImageDataset d = cache.get(key);
        if (d == null) {
            try {
                d = DatasetLoader.load(
                        dir, source.format(), source.split(), source.channels(), source.size(), source.options());
                LOG.infof("dataset %s: %s", shown(ref), d);
                if (d.store() instanceof ImageFileStore files) {
                    decodeMeters(files, shown(ref) + "/" + source.split());
                }
            } catch (IllegalArgumentException e) {
                throw Status.INVALID_ARGUMENT
                        .withDescription("dataset: " + forClient(e.getMessage(), dir, shown(ref)))
                        .asRuntimeException();
            } catch (IOException e) {
                throw Status.INVALID_ARGUMENT
                        .withDescription("dataset '" + shown(ref) + "' cannot be read: "
                                + forClient(e.getMessage(), dir, shown(ref)))
                        .asRuntimeException();
            }
            cache.put(key, d);
        }
        return ref.getLimit() > 0 ? d.head(ref.getLimit()) : d;
    }

    /**
     * The decoding of a dataset read from disk, next to the trainer's data-wait time: images decoded and the thread
     * time spent on them (their ratio is the decode rate per core).
     */
    private void decodeMeters(ImageFileStore files, String dataset) {
        FunctionCounter.builder("selfsup.data.decoded.images", files, ImageFileStore::decodedImages)
                .tag("dataset", dataset)
                .description("Images decoded from disk for training")
                .register(registry);
        FunctionCounter.builder("selfsup.data.decode.thread.seconds", files, ImageFileStore::decodeSeconds)
                .tag("dataset", dataset)
                .description("Decoding threads' time spent reading, decoding and resizing images")
                .register(registry);
    }

    private static String shown(DatasetRef ref) {
        if (!ref.getUploaded().isEmpty()) {
            return ref.getUploaded();
        }
        return ref.getPath().isBlank() ? DEFAULT_DATASET : ref.getPath().trim();
    }

    private static DatasetLoader.Format format(DatasetRef ref) {
        return switch (ref.getFormat()) {
            case DATASET_FORMAT_IDX -> DatasetLoader.Format.IDX;
            case DATASET_FORMAT_CIFAR10 -> DatasetLoader.Format.CIFAR10;
            case DATASET_FORMAT_CIFAR100 -> DatasetLoader.Format.CIFAR100;
            case DATASET_FORMAT_IMAGE_FOLDER -> DatasetLoader.Format.IMAGE_FOLDER;
            default -> DatasetLoader.Format.AUTO;
        };
    }
}
