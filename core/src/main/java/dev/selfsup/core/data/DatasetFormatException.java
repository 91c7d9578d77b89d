package dev.selfsup.core.data;

import java.io.IOException;
import java.nio.file.Path;

/** A data file that cannot be read as the format it claims: names the file and what is wrong with it. */
public class DatasetFormatException extends IOException {
    private final Path file;

    public DatasetFormatException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public DatasetFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /** The file that could not be read. */
    public Path file() {
        return file;
    }
}
