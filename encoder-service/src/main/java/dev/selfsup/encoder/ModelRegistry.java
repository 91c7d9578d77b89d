package dev.selfsup.encoder;

import dev.selfsup.core.engine.EngineThreads;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.service.Refusal;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The models this service serves: every stored version, its state and which one is the default. Versions load
 * off the request path; the default is the pinned version, else the newest READY one, so a version that is still
 * loading (or failed to) never takes traffic. Retired versions finish their queued requests before they free
 * their memory.
 */
@ApplicationScoped
public class ModelRegistry {
    private static final Logger LOG = Logger.getLogger(ModelRegistry.class);

    /** The state of one version. */
    public enum State {
        LOADING,
        READY,
        FAILED
    }

    /** One version as the registry sees it; {@code model} is set when READY. */
    public record Version(ModelStore.VersionRecord record, State state, ServedModel model, String error) {}

    @ConfigProperty(name = "selfsup.encoder.model-dir", defaultValue = "var/models")
    Path modelDir;

    /** How often to look for versions other replicas sharing the model store published or removed; 0: never. */
    @ConfigProperty(name = "selfsup.encoder.store-poll", defaultValue = "PT10S")
    Duration storePoll = Duration.ZERO;

    @Inject
    EncoderMetrics metrics;

    @Inject
    ModelLoader loader;

    private final Map<String, NavigableMap<Integer, Version>> models = new TreeMap<>();
    private final Map<String, Integer> pinned = new TreeMap<>();
    private ModelStore store;
    private volatile boolean restored;
    /** "name/version" of versions this replica is removing: the store still lists them for a moment. */
    private final Set<String> removing = new HashSet<>();

    private ScheduledExecutorService poller;

    void onStart(@Observes StartupEvent e) throws IOException {
        store = new ModelStore(modelDir, metrics::brokenFile);
        EngineThreads.start("model-restore", this::restore);
        if (!storePoll.isZero() && !storePoll.isNegative()) {
            poller = Executors.newSingleThreadScheduledExecutor(EngineThreads.factory("model-store-poll"));
            poller.scheduleWithFixedDelay(
                    this::pollStore, storePoll.toMillis(), storePoll.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void pollStore() {
        try {
            syncWithStore();
        } catch (IOException | RuntimeException ex) {
            LOG.warnf("cannot read the model store %s: %s", modelDir, ex.getMessage());
        }
    }

    /**
     * Brings this replica in line with the store that other replicas share: loads versions they published,
     * retires versions they removed, and takes their pinned defaults. Versions this replica is publishing or
     * removing are left alone.
     */
    void syncWithStore() throws IOException {
        if (!restored) {
            return;
        }
        List<ModelStore.VersionRecord> added = new ArrayList<>();
        synchronized (this) {
            // Listed under the lock that publish takes to mark a version READY: a version this replica is
            // publishing is either still LOADING here or already on disk, never READY and missing.
            for (ModelStore.VersionRecord r : store.list()) {
                String key = r.name() + "/" + r.version();
                NavigableMap<Integer, Version> vs = models.get(r.name());
                if ((vs == null || !vs.containsKey(r.version())) && !removing.contains(key)) {
                    models.computeIfAbsent(r.name(), n -> new TreeMap<>())
                            .put(r.version(), new Version(r, State.LOADING, null, null));
                    added.add(r);
                }
            }
        }
        for (ModelStore.VersionRecord r : added) {
            try {
                ServedModel m = load(r, store.bundleFile(r.name(), r.version()));
                put(new Version(r, State.READY, m, null));
                LOG.infof("loaded %s v%d, published by another replica", r.name(), r.version());
            } catch (IOException | RuntimeException ex) {
                put(new Version(r, State.FAILED, null, ex.getMessage()));
            }
        }
        List<ServedModel> gone = new ArrayList<>();
        synchronized (this) {
            Set<String> storedKeys = new HashSet<>();
            for (ModelStore.VersionRecord r : store.list()) { // again, under the lock: see above
                storedKeys.add(r.name() + "/" + r.version());
            }
            for (ModelStore.Broken b : store.broken()) { // listed FAILED at start; still there
                storedKeys.add(b.placeholder().name() + "/" + b.placeholder().version());
            }
            for (var entry : List.copyOf(models.entrySet())) {
                String name = entry.getKey();
                NavigableMap<Integer, Version> vs = entry.getValue();
                for (Version v : List.copyOf(vs.values())) {
                    if (v.state != State.LOADING && !storedKeys.contains(name + "/" + v.record.version())) {
                        vs.remove(v.record.version());
                        if (v.model != null) {
                            gone.add(v.model);
                        }
                        LOG.infof("%s v%d was removed by another replica", name, v.record.version());
                    }
                }
                if (vs.isEmpty()) {
                    models.remove(name);
                    pinned.remove(name);
                    continue;
                }
                OptionalInt pin = store.pinnedDefault(name);
                if (pin.isPresent()) {
                    pinned.put(name, pin.getAsInt());
                } else {
                    pinned.remove(name);
                }
            }
            metrics.setModelsLoaded(countReady());
        }
        gone.forEach(ServedModel::retire); // queued requests finish on it first
    }

    void onStop(@Observes ShutdownEvent e) {
        if (poller != null) {
            poller.shutdownNow();
        }
        List<ServedModel> all = new ArrayList<>();
        synchronized (this) {
            models.values()
                    .forEach(vs ->
                            vs.values().stream().filter(v -> v.model != null).forEach(v -> all.add(v.model)));
        }
        all.forEach(ServedModel::retire);
    }

    /** Loads every stored version again after a restart. */
    private void restore() {
        try {
            List<ModelStore.VersionRecord> stored = store.list();
            for (ModelStore.VersionRecord r : stored) {
                synchronized (this) {
                    models.computeIfAbsent(r.name(), n -> new TreeMap<>())
                            .put(r.version(), new Version(r, State.LOADING, null, null));
                    store.pinnedDefault(r.name()).ifPresent(v -> pinned.put(r.name(), v));
                }
            }
            for (ModelStore.Broken b : store.broken()) {
                // Listed FAILED with what is wrong, so a client sees it; every other version serves.
                put(new Version(b.placeholder(), State.FAILED, null, b.problem()));
            }
            for (ModelStore.VersionRecord r : stored) {
                try {
                    ServedModel m = load(r, store.bundleFile(r.name(), r.version()));
                    put(new Version(r, State.READY, m, null));
                    LOG.infof("loaded %s v%d (%s)", r.name(), r.version(), m.spec());
                } catch (IOException | RuntimeException ex) {
                    LOG.errorf("cannot load stored %s v%d: %s", r.name(), r.version(), ex.getMessage());
                    put(new Version(r, State.FAILED, null, ex.getMessage()));
                }
            }
        } catch (IOException ex) {
            LOG.error("cannot read the model store " + modelDir, ex);
        } finally {
            restored = true;
        }
    }

    private ServedModel load(ModelStore.VersionRecord r, Path bundle) throws IOException {
        return loader.load(r, bundle, store.galleryFile(r.name(), r.version()));
    }

    private synchronized void put(Version v) {
        models.computeIfAbsent(v.record.name(), n -> new TreeMap<>()).put(v.record.version(), v);
        metrics.setModelsLoaded(countReady());
    }

    private int countReady() {
        int n = 0;
        for (NavigableMap<Integer, Version> vs : models.values()) {
            for (Version v : vs.values()) {
                n += v.state == State.READY ? 1 : 0;
            }
        }
        return n;
    }

    /** True when stored models have been loaded and at least one model has a default version. */
    public synchronized boolean hasDefaultModel() {
        return restored
                && models.keySet().stream().anyMatch(n -> defaultVersion(n).isPresent());
    }

    public boolean restored() {
        return restored;
    }

    /** Where uploads are written before they become a version. */
    public Path newUploadFile() throws IOException {
        return store.newUploadFile();
    }

    /**
     * Makes a checked upload a new version: loads it (the current default keeps serving meanwhile), then stores
     * it. A bundle that does not load is deleted and nothing else changes.
     */
    public Version publish(String name, Path upload, String sha256, long size, String runId) {
        ModelStore.VersionRecord r;
        synchronized (this) {
            int next;
            try {
                next = store.reserveVersion(
                        name,
                        models.getOrDefault(name, new TreeMap<>()).keySet().stream()
                                .mapToInt(Integer::intValue)
                                .max()
                                .orElse(0));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            r = new ModelStore.VersionRecord(name, next, sha256, size, runId, Instant.now());
            models.computeIfAbsent(name, n -> new TreeMap<>()).put(next, new Version(r, State.LOADING, null, null));
        }
        ServedModel m;
        try {
            m = load(r, upload);
        } catch (IOException | RuntimeException e) {
            forget(r);
            deleteQuietly(upload);
            throw Refusal.invalid("the bundle for " + name + " cannot be loaded: " + e.getMessage()
                    + (e instanceof EncoderBundle.InputTooLargeException ? " (selfsup.encoder.max-input-size)" : "")
                    + "; the serving version is unchanged");
        }
        try {
            store.commit(upload, r);
        } catch (IOException e) {
            forget(r);
            m.retire();
            deleteQuietly(upload);
            throw new UncheckedIOException("cannot store " + name + " v" + r.version(), e);
        }
        Version ready = new Version(r, State.READY, m, null);
        put(ready);
        LOG.infof(
                "published %s v%d (%s, %d bytes, loaded in %d ms)",
                name, r.version(), m.spec(), size, m.loadNanos() / 1_000_000);
        return ready;
    }

    private synchronized void forget(ModelStore.VersionRecord r) {
        NavigableMap<Integer, Version> vs = models.get(r.name());
        if (vs != null) {
            vs.remove(r.version());
            if (vs.isEmpty()) {
                models.remove(r.name());
            }
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // An orphan upload file is harmless; the next start cleans the uploads folder.
        }
    }

    /** The default version of a model: the pinned one if READY, else the newest READY one. */
    private synchronized OptionalInt defaultVersion(String name) {
        NavigableMap<Integer, Version> vs = models.get(name);
        if (vs == null) {
            return OptionalInt.empty();
        }
        Integer pin = pinned.get(name);
        if (pin != null && vs.containsKey(pin) && vs.get(pin).state == State.READY) {
            return OptionalInt.of(pin);
        }
        for (Version v : vs.descendingMap().values()) {
            if (v.state == State.READY) {
                return OptionalInt.of(v.record.version());
            }
        }
        return OptionalInt.empty();
    }

    /** Is {@code version} the default of its model? */
    public synchronized boolean isDefault(Version v) {
        OptionalInt d = defaultVersion(v.record.name());
        return d.isPresent() && d.getAsInt() == v.record.version();
    }

    /** A version by name and number (0: the default); NOT_FOUND or FAILED_PRECONDITION if it cannot serve. */
    public synchronized Version get(String name, int version) {
        NavigableMap<Integer, Version> vs = models.get(name);
        if (vs == null) {
            throw Refusal.notFound(
                    "no model named '" + name + "'" + (restored ? "" : " (stored models are still loading)")
                            + "; publish one with PublishModel or list them with "
                            + "ListModels");
        }
        if (version == 0) {
            OptionalInt d = defaultVersion(name);
            if (d.isEmpty()) {
                throw Refusal.wrongState("model '" + name + "' has no READY version yet");
            }
            return vs.get(d.getAsInt());
        }
        Version v = vs.get(version);
        if (v == null) {
            throw Refusal.notFound(
                    "model '" + name + "' has no version " + version + " (versions: " + vs.keySet() + ")");
        }
        return v;
    }

    /** A READY version to compute with. */
    public ServedModel serving(String name, int version) {
        Version v = get(name, version);
        if (v.state != State.READY) {
            throw Refusal.wrongState(name + " v" + v.record.version() + " is "
                    + v.state.name().toLowerCase() + (v.error == null ? "" : ": " + v.error));
        }
        return v.model;
    }

    /** Every version, by name then version; only {@code name}'s if given. */
    public synchronized List<Version> list(String name) {
        List<Version> out = new ArrayList<>();
        models.forEach((n, vs) -> {
            if (name.isEmpty() || name.equals(n)) {
                out.addAll(vs.values());
            }
        });
        return out;
    }

    /** Pins (or, with 0, unpins) the default version. */
    public Version setDefault(String name, int version) {
        synchronized (this) {
            Version v = version == 0 ? null : get(name, version);
            if (v != null && v.state != State.READY) {
                throw Refusal.wrongState(name + " v" + version + " is not READY");
            }
            if (version == 0) {
                get(name, 0);
            }
            try {
                store.pinDefault(name, version); // first: a pin that could not be saved is not served
            } catch (IOException e) {
                throw new UncheckedIOException("cannot save the default of " + name, e);
            }
            if (version == 0) {
                pinned.remove(name);
            } else {
                pinned.put(name, version);
            }
            return get(name, 0);
        }
    }

    /** Removes a version (or, with 0, all) from serving and from the store; queued requests finish first. */
    public List<Integer> unload(String name, int version) {
        List<Version> removed = new ArrayList<>();
        synchronized (this) {
            NavigableMap<Integer, Version> vs = models.get(name);
            if (vs == null) {
                throw Refusal.notFound("no model named '" + name + "'");
            }
            if (version != 0 && !vs.containsKey(version)) {
                throw Refusal.notFound("model '" + name + "' has no version " + version);
            }
            for (Version v : version == 0 ? List.copyOf(vs.values()) : List.of(vs.get(version))) {
                if (v.state == State.LOADING) {
                    throw Refusal.wrongState(
                            name + " v" + v.record.version() + " is still loading; unload it when it is READY");
                }
                removed.add(v);
            }
            for (Version v : removed) {
                vs.remove(v.record.version());
                removing.add(name + "/" + v.record.version());
                if (Integer.valueOf(v.record.version()).equals(pinned.get(name))) {
                    pinned.remove(name);
                }
            }
            if (vs.isEmpty()) {
                models.remove(name);
            }
            metrics.setModelsLoaded(countReady());
        }
        List<Integer> numbers = new ArrayList<>();
        for (Version v : removed) {
            if (v.model != null) {
                v.model.retire();
                try {
                    v.model.awaitRetired(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                store.delete(name, v.record.version());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete " + name + " v" + v.record.version(), e);
            } finally {
                synchronized (this) {
                    removing.remove(name + "/" + v.record.version());
                }
            }
            numbers.add(v.record.version());
        }
        return numbers;
    }
}
