package dev.selfsup.service;

import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.data.PixelBudget;
import dev.selfsup.service.DatasetStore.FileRow;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** One file on its way in: bytes go to its partial file and its digest. Not thread-safe: one caller at a time. */
public final class IncomingFile {
    private final DatasetStore store;
    private final long maxPixels;
    private final String dataset;
    private final FileRow header;
    private final Path partial;
    private final OutputStream out;
    private final MessageDigest sha;
    private long received;
    private boolean closed;

    IncomingFile(DatasetStore store, String dataset, FileRow header, Path partial, long maxPixels) throws IOException {
        this.store = store;
        this.maxPixels = maxPixels;
        this.dataset = dataset;
        this.header = header;
        this.partial = partial;
        this.out = Files.newOutputStream(partial);
        try {
            this.sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The file being received. */
    public FileRow header() {
        return header;
    }

    /** Bytes still expected. */
    public long remaining() {
        return header.size() - received;
    }

    /** Appends bytes; more than the header's size is INVALID_ARGUMENT. */
    public void write(byte[] data) {
        if (received + data.length > header.size()) {
            abort();
            throw Refusal.invalid("file '" + DatasetRules.shortened(header.name())
                    + "': more bytes than its header's size (" + header.size() + ")");
        }
        try {
            out.write(data);
        } catch (IOException e) {
            abort();
            throw new UncheckedIOException(e);
        }
        sha.update(data);
        received += data.length;
    }

    /**
     * Checks the whole file (digest, a PNG or JPEG within the pixel bound that decodes), moves it into place
     * and lists it. A file that fails is not kept.
     */
    public FileRow finish() {
        try {
            out.close();
            if (received != header.size()) {
                throw Refusal.invalid("file '" + DatasetRules.shortened(header.name()) + "' ended after " + received
                        + " of " + header.size() + " bytes");
            }
            String digest = HexFormat.of().formatHex(sha.digest());
            if (!header.sha256().isEmpty() && !header.sha256().equalsIgnoreCase(digest)) {
                throw Refusal.invalid(
                        "file '" + DatasetRules.shortened(header.name()) + "': SHA-256 mismatch (the header says "
                                + header.sha256() + ", the bytes are " + digest + "); it was corrupted in transit");
            }
            try {
                ImageCodec.decodeChw(Files.readAllBytes(partial), 1, 4, maxPixels, PixelBudget.UNLIMITED);
            } catch (IllegalArgumentException bad) {
                throw Refusal.invalid("file '" + DatasetRules.shortened(header.name()) + "': " + bad.getMessage());
            }
            FileRow row = new FileRow(header.split(), header.label(), header.name(), received, digest);
            store.keep(dataset, row, partial);
            closed = true;
            return row;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (!closed) {
                abort();
            }
        }
    }

    /** Drops the file (the stream broke or the client sent something wrong). */
    public void abort() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            out.close();
        } catch (IOException ignored) {
            // the partial file goes anyway
        }
        store.release(dataset, partial);
    }
}
