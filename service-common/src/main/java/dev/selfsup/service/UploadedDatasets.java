package dev.selfsup.service;

import dev.selfsup.core.data.ImageCodec;
import io.quarkus.runtime.configuration.MemorySize;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.nio.file.Path;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Makes the {@link DatasetStore} of this process from its configuration (docs/limits.md lists the bounds). */
@ApplicationScoped
public class UploadedDatasets {
    /** Where uploaded datasets are kept. */
    @ConfigProperty(name = "selfsup.datasets.dir", defaultValue = "var/datasets")
    Path dir;

    @ConfigProperty(name = "selfsup.datasets.max-datasets", defaultValue = "100")
    int maxDatasets;

    @ConfigProperty(name = "selfsup.datasets.max-dataset-bytes", defaultValue = "20G")
    MemorySize maxDatasetBytes;

    @ConfigProperty(name = "selfsup.datasets.max-total-bytes", defaultValue = "100G")
    MemorySize maxTotalBytes;

    @ConfigProperty(name = "selfsup.datasets.max-files", defaultValue = "1000000")
    long maxFiles;

    @ConfigProperty(name = "selfsup.datasets.max-file-bytes", defaultValue = "32M")
    MemorySize maxFileBytes;

    /** Uploads stop while the disk has less than this free. */
    @ConfigProperty(name = "selfsup.datasets.min-free-bytes", defaultValue = "1G")
    MemorySize minFreeBytes;

    /** The same pixel bound as every image a request carries. */
    @Inject
    ImageLimits images;

    /** The store, opened on first use (a service that never reads an uploaded dataset never creates its folder). */
    @Produces
    @Singleton
    DatasetStore store() {
        return new DatasetStore(
                dir,
                new DatasetStore.Limits(
                        maxDatasets,
                        maxDatasetBytes.asLongValue(),
                        maxTotalBytes.asLongValue(),
                        maxFiles,
                        maxFileBytes.asLongValue(),
                        minFreeBytes.asLongValue(),
                        Math.min(images.maxImagePixels(), ImageCodec.DEFAULT_MAX_PIXELS)));
    }
}
