package dev.selfsup.core.data;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Where a dataset is read from and how, as a value another process can open the same way: the worker processes of
 * one run each read the run's dataset from it.
 *
 * @param dir the dataset's folder
 * @param format how its files are laid out
 * @param split "train" or "test"
 * @param channels 1 or 3
 * @param size the side images are resized to (image folders)
 * @param limit the first {@code limit} images only; 0 for all
 * @param options how much is held in memory and how many threads decode
 */
public record DatasetSource(
        Path dir, DatasetLoader.Format format, String split, int channels, int size, int limit, ReadOptions options) {
    /** Reads the dataset, without its labels (pretraining does not use them). */
    public ImageDataset open() throws IOException {
        ImageDataset d = DatasetLoader.load(dir, format, split, channels, size, options);
        return (limit > 0 ? d.head(limit) : d).withoutLabels();
    }
}
