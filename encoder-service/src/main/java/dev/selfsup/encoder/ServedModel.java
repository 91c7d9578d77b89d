package dev.selfsup.encoder;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.train.BundleEmbedder;
import dev.selfsup.core.train.EncoderBundle;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * One loaded version of a model: the encoder on the device, its batcher and its gallery. Requests reach the
 * encoder only through the batcher, whose worker threads share the network (inference only reads its
 * parameters).
 */
public final class ServedModel {
    private static final Logger LOG = Logger.getLogger(ServedModel.class);

    private final ModelStore.VersionRecord record;
    private final EncoderBundle.Header header;
    private final NDManager manager;
    private final DynamicBatcher batcher;
    private final Gallery gallery;
    private final long loadNanos;

    private ServedModel(
            ModelStore.VersionRecord record,
            EncoderBundle.Loaded loaded,
            NDManager manager,
            DynamicBatcher.Config batching,
            DynamicBatcher.Observer observer,
            Gallery gallery,
            long loadNanos) {
        this.record = record;
        this.header = loaded.header();
        this.manager = manager;
        this.gallery = gallery;
        this.loadNanos = loadNanos;
        BackboneSpec spec = header.backbone();
        this.batcher = new DynamicBatcher(
                record.name() + ":" + record.version(),
                // The batch function runs on the batcher's workers, several at once.
                new BundleEmbedder(loaded, manager, batching.maxBatch())::embed,
                imageFloats(),
                header.featureDim(),
                batching,
                observer,
                manager::close);
        if (spec.channels() < 1) {
            throw new IllegalStateException("bad spec " + spec);
        }
    }

    /**
     * Loads a bundle file onto {@code device}.
     *
     * @param maxInputSize the largest input side served: a bundle declaring more is refused before it is built
     * @throws IOException if the file is not a loadable encoder bundle
     */
    public static ServedModel load(
            ModelStore.VersionRecord record,
            Path bundle,
            Path galleryFile,
            Device device,
            DynamicBatcher.Config batching,
            DynamicBatcher.Observer observer,
            Consumer<String> brokenFile,
            int maxInputSize)
            throws IOException {
        long t0 = System.nanoTime();
        NDManager manager = NDManager.newBaseManager(device);
        try {
            EncoderBundle.Loaded loaded;
            try (InputStream in = Files.newInputStream(bundle)) {
                loaded = EncoderBundle.read(in, record.name() + " v" + record.version(), manager, maxInputSize);
            }
            Gallery gallery = openGallery(galleryFile, loaded.header().featureDim(), record, brokenFile);
            ServedModel m =
                    new ServedModel(record, loaded, manager, batching, observer, gallery, System.nanoTime() - t0);
            // One warm-up batch, so the first request does not pay for libtorch's lazy initialisation.
            m.embed(new float[m.imageFloats()], 1, () -> false).join();
            return m;
        } catch (IOException | RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * The version's gallery, or an empty one when its file cannot be read: a broken gallery loses the gallery, not
     * the model. The file is set aside as {@code .broken} for the operator, and the log names it.
     */
    private static Gallery openGallery(Path file, int dim, ModelStore.VersionRecord record, Consumer<String> brokenFile)
            throws IOException {
        try {
            return Gallery.open(file, dim);
        } catch (IOException | RuntimeException e) {
            brokenFile.accept("gallery");
            Path aside = file.resolveSibling(file.getFileName() + ".broken");
            try {
                Files.move(file, aside, StandardCopyOption.REPLACE_EXISTING);
                LOG.errorf(
                        "the gallery of %s v%d cannot be read (%s): moved to %s; the model serves with an empty gallery",
                        record.name(), record.version(), e.getMessage(), aside);
            } catch (IOException moveFailed) {
                LOG.errorf(
                        "the gallery of %s v%d cannot be read (%s) nor moved aside (%s); the model serves with an "
                                + "empty gallery",
                        record.name(), record.version(), e.getMessage(), moveFailed.getMessage());
            }
            return Gallery.open(null, dim).savedTo(file);
        }
    }

    public ModelStore.VersionRecord record() {
        return record;
    }

    public EncoderBundle.Header header() {
        return header;
    }

    public BackboneSpec spec() {
        return header.backbone();
    }

    public Gallery gallery() {
        return gallery;
    }

    public long loadNanos() {
        return loadNanos;
    }

    public int featureDim() {
        return header.featureDim();
    }

    /** Values per image: channels x size x size. */
    public int imageFloats() {
        BackboneSpec s = header.backbone();
        return s.channels() * s.imageSize() * s.imageSize();
    }

    public int queuedImages() {
        return batcher.queuedImages();
    }

    /** Queues {@code n} preprocessed images (CHW floats in [0, 1]) for the next batch. */
    public CompletableFuture<float[]> embed(float[] pixels, int n, BooleanSupplier abandoned) {
        return batcher.submit(pixels, n, abandoned);
    }

    /** The gallery's {@code k} nearest entries of {@code n} query embeddings, computed on this model's device. */
    public Gallery.Result[] searchGallery(float[] queries, int n, int k) {
        return gallery.search(queries, n, k, manager);
    }

    /** Stops taking requests; the queued ones finish, then the device memory is freed. */
    public void retire() {
        batcher.close();
    }

    /** Waits until a retired model has finished its queue. */
    public boolean awaitRetired(long timeout, TimeUnit unit) throws InterruptedException {
        return batcher.awaitStopped(timeout, unit);
    }
}
