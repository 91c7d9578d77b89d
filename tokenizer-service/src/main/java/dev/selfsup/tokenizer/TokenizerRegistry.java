package dev.selfsup.tokenizer;

import ai.djl.ndarray.NDManager;
import com.google.protobuf.util.Timestamps;
import dev.selfsup.core.config.Records;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.engine.EngineThreads;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.io.AtomicFiles;
import dev.selfsup.core.tokenizer.TokenizerFile;
import dev.selfsup.core.tokenizer.TokenizerQuality;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.core.tokenizer.TokenizerTrainer;
import dev.selfsup.core.tokenizer.VisualTokenizer;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.TokenizerEvent;
import dev.selfsup.proto.v1.TokenizerInfo;
import dev.selfsup.proto.v1.TokenizerKind;
import dev.selfsup.proto.v1.TokenizerProgress;
import dev.selfsup.service.DataRoot;
import dev.selfsup.service.GrpcErrors;
import dev.selfsup.service.ProtoSettings;
import dev.selfsup.service.Refusal;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.subscription.MultiEmitter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The tokenizers this service serves: loaded from its folder at start ({@code <name>.tok}, written atomically),
 * and trained here on request, one training at a time.
 */
@ApplicationScoped
public class TokenizerRegistry {
    private static final Logger LOG = Logger.getLogger(TokenizerRegistry.class);
    /** Tokenizer names: safe as file names. */
    public static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

    @ConfigProperty(name = "selfsup.tokenizer.dir", defaultValue = "var/tokenizers")
    Path dir;

    @ConfigProperty(name = "selfsup.device", defaultValue = "auto")
    String devicePreference;

    @Inject
    DataRoot data;

    @Inject
    TokenizerMetrics metrics;

    /** A served tokenizer. */
    public record Entry(VisualTokenizer tokenizer, TokenizerFile.Header header) {}

    private final Map<String, Entry> tokenizers = new ConcurrentHashMap<>();
    private final Set<String> training = ConcurrentHashMap.newKeySet();
    private ExecutorService trainer;
    private NDManager manager;

    void onStart(@Observes StartupEvent e) throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.removeLeftovers(dir); // before any call can write here
        trainer = Executors.newSingleThreadExecutor(EngineThreads.factory("tokenizer-training"));
        EngineThreads.start("tokenizer-load", this::loadStored);
    }

    void onStop(@Observes ShutdownEvent e) {
        if (trainer != null) {
            trainer.shutdownNow();
        }
    }

    private synchronized NDManager manager() {
        if (manager == null) {
            manager = NDManager.newBaseManager(Devices.choose(devicePreference));
        }
        return manager;
    }

    private void loadStored() {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.tok")) {
            for (Path f : files) {
                try {
                    TokenizerFile.Loaded l = TokenizerFile.read(f, manager());
                    tokenizers.put(l.header().name(), new Entry(l.tokenizer(), l.header()));
                    LOG.infof(
                            "loaded tokenizer %s (%s)",
                            l.header().name(), l.header().spec());
                } catch (IOException | RuntimeException ex) {
                    LOG.errorf("cannot load tokenizer %s: %s", f, ex.getMessage());
                }
            }
        } catch (IOException ex) {
            LOG.error("cannot read " + dir, ex);
        }
        metrics.setLoaded(tokenizers.size());
    }

    /** A tokenizer by name; NOT_FOUND if there is none. */
    public Entry get(String name) {
        Entry e = tokenizers.get(name);
        if (e == null) {
            throw Refusal.notFound("no tokenizer named '" + name + "'"
                    + (training.contains(name)
                            ? " yet: it is still training"
                            : "; train one with TrainTokenizer or list them with ListTokenizers"));
        }
        return e;
    }

    public List<Entry> list() {
        List<Entry> out = new ArrayList<>(tokenizers.values());
        out.sort((a, b) -> a.header().name().compareTo(b.header().name()));
        return out;
    }

    /** The API's view of a tokenizer. */
    public static TokenizerInfo info(Entry e) {
        TokenizerFile.Header h = e.header();
        TokenizerSpec s = h.spec();
        TokenizerQuality q = h.quality();
        return TokenizerInfo.newBuilder()
                .setName(h.name())
                .setKind(
                        TokenizerSpec.VQ.equals(s.kind())
                                ? TokenizerKind.TOKENIZER_KIND_VQ
                                : TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES)
                .setVocabularySize(s.vocabularySize())
                .setPatchSize(s.patchSize())
                .setImageSize(s.imageSize())
                .setChannels(s.channels())
                .setGridSize(s.gridSize())
                .setDataset(h.dataset())
                .setSteps(h.steps())
                .setCreatedAt(Timestamps.fromMillis(h.created().toEpochMilli()))
                .setQuality(dev.selfsup.proto.v1.TokenizerQuality.newBuilder()
                        .setMse(q.mse())
                        .setPsnr(q.psnr())
                        .setCodebookUsage(q.usage())
                        .setPerplexity(q.perplexity())
                        .setImages(q.images()))
                .build();
    }

    /**
     * Checks a training request now (bad names, specs and datasets are the caller's error) and queues it; events
     * go to {@code out} until the finished tokenizer.
     */
    /**
     * The store takes a file now: a read-only or full disk is found before minutes of training, not after them.
     */
    private void requireWritableStore(String name) {
        try {
            Path probe = AtomicFiles.tempBeside(dir.resolve(name + ".tok"));
            Files.delete(probe);
        } catch (IOException | RuntimeException e) {
            LOG.errorf("the tokenizer store %s cannot be written: %s", dir, e.getMessage());
            throw Refusal.unavailable("the tokenizer store cannot be written (read-only or full disk; the service's log"
                    + " says why), so the tokenizer would be lost after training; the operator must make it"
                    + " writable");
        }
    }

    public void train(dev.selfsup.proto.v1.TokenizerSpec request, MultiEmitter<? super TokenizerEvent> out) {
        String name = request.getName();
        if (!NAME.matcher(name).matches()) {
            throw Refusal.invalid("name: '" + name + "' must be 1-64 lower-case letters, "
                    + "digits, '.', '_' or '-', starting with a letter or digit");
        }
        if (tokenizers.containsKey(name) || !training.add(name)) {
            throw Refusal.exists("a tokenizer named '" + name + "' exists or is training; " + "choose another name");
        }
        try {
            DatasetRef ref = request.getDataset();
            ImageDataset all = data.load(ref, "train");
            ImageDataset heldOut;
            ImageDataset train;
            try {
                heldOut = data.load(ref.toBuilder().setSplit("test").build(), "test");
                train = all;
            } catch (io.grpc.StatusRuntimeException noTestSplit) {
                int cut = Math.max(1, all.size() - Math.max(1, all.size() / 10));
                train = all.slice(0, cut);
                heldOut = all.slice(cut, all.size());
            }
            TokenizerSpec spec = toSpec(request, train);
            TokenizerTrainer.Config config = toConfig(request, spec);
            ImageDataset trainData = train.withoutLabels();
            ImageDataset evalData = heldOut.head(2000);
            requireWritableStore(name);
            trainer.submit(() -> run(name, spec, config, trainData, evalData, out));
        } catch (RuntimeException ex) {
            training.remove(name);
            throw ex;
        }
    }

    /** The spec a request asks for: the defaults for the data's images, with the request's fields by name. */
    private static TokenizerSpec toSpec(dev.selfsup.proto.v1.TokenizerSpec r, ImageDataset d) {
        if (d.height() != d.width()) {
            throw Refusal.invalid("dataset: images must be square, got " + d.height() + "x" + d.width());
        }
        Map<String, Object> changes = ProtoSettings.present(r, Records.keys(TokenizerSpec.class));
        if (r.getKind() == TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES) {
            changes.put("kind", TokenizerSpec.KMEANS_PATCHES);
        }
        try {
            return Records.with(TokenizerSpec.defaults(d.height(), d.channels()), changes, "the tokenizer");
        } catch (IllegalArgumentException e) {
            throw Refusal.invalid(e.getMessage());
        }
    }

    /** The training settings a request asks for: the trainer's defaults, with the request's fields by name. */
    private TokenizerTrainer.Config toConfig(dev.selfsup.proto.v1.TokenizerSpec r, TokenizerSpec spec) {
        TokenizerTrainer.Config d = TokenizerTrainer.Config.defaults();
        Map<String, Object> changes = ProtoSettings.present(r, Records.keys(TokenizerTrainer.Config.class));
        long steps = r.hasSteps() ? r.getSteps() : d.steps();
        changes.put("device", devicePreference);
        // About 20 progress events whatever the length.
        changes.put("log_every_steps", Math.max(1, Math.min(d.logEverySteps(), Math.max(1, steps / 20))));
        try {
            return Records.with(d, changes, "tokenizer training");
        } catch (IllegalArgumentException e) {
            throw Refusal.invalid(e.getMessage());
        }
    }

    private void run(
            String name,
            TokenizerSpec spec,
            TokenizerTrainer.Config config,
            ImageDataset train,
            ImageDataset heldOut,
            MultiEmitter<? super TokenizerEvent> out) {
        GradMode.disableOnThisThread();
        TokenizerMetrics.Training gauges = metrics.training(name);
        try {
            LOG.infof("training tokenizer %s: %s on %s", name, spec, train);
            VisualTokenizer t = TokenizerTrainer.train(
                    spec,
                    config,
                    train,
                    manager(),
                    p -> {
                        gauges.update(p.step(), p.loss(), p.usage(), p.imagesPerSecond());
                        out.emit(TokenizerEvent.newBuilder()
                                .setProgress(TokenizerProgress.newBuilder()
                                        .setStep(p.step())
                                        .setTotalSteps(p.totalSteps())
                                        .setLoss(p.loss())
                                        .setMse(p.mse())
                                        .setCodebookUsage(p.usage())
                                        .setPerplexity(p.perplexity())
                                        .setReseededCodes(p.reseeded())
                                        .setImagesPerSecond(p.imagesPerSecond()))
                                .build());
                    },
                    () -> false); // a client that stops watching does not stop the training
            TokenizerQuality q = TokenizerQuality.measure(t, heldOut, 256, manager());
            TokenizerFile.Header h = new TokenizerFile.Header(
                    "tokenizer",
                    1,
                    name,
                    spec,
                    q,
                    train.name(),
                    train.fingerprint(),
                    TokenizerSpec.VQ.equals(spec.kind()) ? config.steps() : 0,
                    config.seed(),
                    Instant.now());
            TokenizerFile.write(dir.resolve(name + ".tok"), t, h);
            Entry e = new Entry(t, h);
            tokenizers.put(name, e);
            metrics.setLoaded(tokenizers.size());
            LOG.infof(
                    "tokenizer %s: PSNR %.2f dB, codebook usage %.1f%%, perplexity %.1f",
                    name, q.psnr(), 100 * q.usage(), q.perplexity());
            out.emit(TokenizerEvent.newBuilder().setDone(info(e)).build());
            out.complete();
        } catch (Throwable ex) {
            LOG.error("training tokenizer " + name + " failed", ex);
            // Mapped like every failure: a full disk is UNAVAILABLE, a bug INTERNAL with an id, never a path.
            io.grpc.Status s = GrpcErrors.toStatus(ex);
            out.fail(s.withDescription("training tokenizer " + name + " failed: " + s.getDescription())
                    .asRuntimeException());
        } finally {
            training.remove(name);
        }
    }
}
