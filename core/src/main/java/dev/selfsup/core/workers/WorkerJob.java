package dev.selfsup.core.workers;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.DeserializationFeature;
import dev.selfsup.core.config.Records;
import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.DatasetSource;
import dev.selfsup.core.data.ReadOptions;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.parallel.Rendezvous;
import dev.selfsup.core.train.PretrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every rank of a run trained by worker processes reads: the run's config, where its data is, the data's
 * channel statistics (computed once, so every rank normalises alike), and how the ranks meet. The rank itself is
 * not in it: each process gets its own.
 *
 * @param method the method's name
 * @param training the training settings by key, as {@link PretrainConfig} names them
 * @param methodSettings the method's own settings by key
 * @param checkpointDir where rank 0 writes checkpoints and every rank resumes from (a folder all ranks reach)
 * @param dataset the dataset's folder
 * @param format its layout ({@link DatasetLoader.Format})
 * @param split the split trained on
 * @param channels image channels
 * @param imageSize image side
 * @param limit the first images only (0: all)
 * @param inMemoryMaxBytes decoded pixels above this stay on disk (0: a quarter of the heap)
 * @param decodeThreads threads that decode images from disk (0: one per processor)
 * @param mean per-channel mean of the data (null: each rank computes it)
 * @param std per-channel standard deviation (null: each rank computes it)
 * @param store the rendezvous store ({@link Rendezvous#parse})
 * @param prefix this attempt's keys in the store
 * @param connectSeconds how long ranks wait for each other to arrive
 * @param timeoutSeconds how long a rank waits for a peer in any later operation before the run fails
 */
public record WorkerJob(
        String method,
        Map<String, Object> training,
        Map<String, Object> methodSettings,
        String checkpointDir,
        String dataset,
        String format,
        String split,
        int channels,
        int imageSize,
        int limit,
        long inMemoryMaxBytes,
        int decodeThreads,
        float[] mean,
        float[] std,
        String store,
        String prefix,
        int connectSeconds,
        int timeoutSeconds) {

    /** Seconds ranks wait for each other at the start when a job does not say. */
    public static final int DEFAULT_CONNECT_SECONDS = 90;

    /** Seconds a rank waits for a peer in a step when a job does not say. */
    public static final int DEFAULT_TIMEOUT_SECONDS = 60;

    /**
     * Fills what a job written by hand may leave out: no method settings or training changes (the method's
     * defaults), format AUTO, the train split, 3 channels and 32 px (as the API), the default timeouts. Mean and std
     * may be null: each rank then computes them from the data, the same on every rank.
     */
    public WorkerJob {
        training = training == null ? Map.of() : training;
        methodSettings = methodSettings == null ? Map.of() : methodSettings;
        format = format == null ? DatasetLoader.Format.AUTO.name() : format;
        split = split == null ? "train" : split;
        channels = channels == 0 ? 3 : channels;
        imageSize = imageSize == 0 ? 32 : imageSize;
        connectSeconds = connectSeconds == 0 ? DEFAULT_CONNECT_SECONDS : connectSeconds;
        timeoutSeconds = timeoutSeconds == 0 ? DEFAULT_TIMEOUT_SECONDS : timeoutSeconds;
    }

    /** This job meeting in another store or under another prefix (a launcher's environment); null keeps it. */
    public WorkerJob withRendezvous(String newStore, String newPrefix) {
        return new WorkerJob(
                method,
                training,
                methodSettings,
                checkpointDir,
                dataset,
                format,
                split,
                channels,
                imageSize,
                limit,
                inMemoryMaxBytes,
                decodeThreads,
                mean,
                std,
                newStore == null ? store : newStore,
                newPrefix == null ? prefix : newPrefix,
                connectSeconds,
                timeoutSeconds);
    }

    /** The job of a run: {@code config} (with its checkpoint folder) on {@code data}. */
    public static WorkerJob of(
            PretrainConfig config,
            DatasetSource data,
            float[] mean,
            float[] std,
            Rendezvous store,
            int connectSeconds,
            int timeoutSeconds) {
        Map<String, Object> training = new LinkedHashMap<>(Records.values(config));
        training.remove("method");
        training.remove("settings");
        training.remove("checkpoint_dir");
        return new WorkerJob(
                config.method(),
                training,
                config.methodSettings(),
                config.checkpointDir() == null ? null : config.checkpointDir().toString(),
                data.dir().toAbsolutePath().toString(),
                data.format().name(),
                data.split(),
                data.channels(),
                data.size(),
                data.limit(),
                data.options().inMemoryMaxBytes(),
                data.options().decodeThreads(),
                mean,
                std,
                store.kind().equals("redis") ? "redis://" + store.address() + ":" + store.port() : store.address(),
                store.prefix(),
                connectSeconds,
                timeoutSeconds);
    }

    /** The run's config, as the job's writer had it. */
    @JsonIgnore
    public PretrainConfig config() {
        PretrainConfig.Builder b = PretrainConfig.defaults(method).toBuilder();
        training.forEach(b::set);
        methodSettings.forEach(b::setting);
        if (checkpointDir != null) {
            b.checkpointDir(Path.of(checkpointDir));
        }
        return b.build();
    }

    /** Where the data is read from, and how. */
    @JsonIgnore
    public DatasetSource source() {
        return new DatasetSource(
                Path.of(dataset),
                DatasetLoader.Format.valueOf(format),
                split,
                channels,
                imageSize,
                limit,
                new ReadOptions(inMemoryMaxBytes, decodeThreads));
    }

    /** How the ranks meet. */
    @JsonIgnore
    public Rendezvous rendezvous() {
        return Rendezvous.parse(store, prefix);
    }

    /** Writes the job as JSON, atomically. */
    public void write(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, Json.write(this));
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Reads a job written by {@link #write} or by hand. A field this record does not have is an error (a misspelt
     * setting must not be dropped silently).
     */
    public static WorkerJob read(Path file) throws IOException {
        return Json.MAPPER
                .readerFor(WorkerJob.class)
                .with(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .readValue(Files.readString(file));
    }
}
