package dev.selfsup.core.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads the IDX format of the MNIST family (MNIST, Fashion-MNIST, KMNIST), plain or gzipped.
 *
 * <p>Images are IDX type 0x08 (unsigned byte) with 3 dimensions, labels with 1 dimension. Whether a file
 * is gzipped is decided by its first two bytes, not its name.
 */
public final class IdxReader {
    private static final int UNSIGNED_BYTE = 0x08;

    private IdxReader() {}

    /** Reads images and labels; {@code classNames} may be empty, then classes are named by their number. */
    public static ImageDataset read(String name, Path imagesFile, Path labelsFile, List<String> classNames)
            throws IOException {
        Idx images = readIdx(imagesFile, 3);
        int n = images.dims[0];
        int h = images.dims[1];
        int w = images.dims[2];
        int[] labels = null;
        List<String> names = classNames;
        if (labelsFile != null) {
            Idx lab = readIdx(labelsFile, 1);
            if (lab.dims[0] != n) {
                throw new DatasetFormatException(
                        labelsFile, lab.dims[0] + " labels, but " + imagesFile.getFileName() + " has " + n + " images");
            }
            labels = new int[n];
            int max = 0;
            for (int i = 0; i < n; i++) {
                labels[i] = lab.data[i] & 0xff;
                max = Math.max(max, labels[i]);
            }
            if (names.isEmpty()) {
                List<String> numbered = new ArrayList<>();
                for (int c = 0; c <= max; c++) {
                    numbered.add(Integer.toString(c));
                }
                names = numbered;
            } else if (max >= names.size()) {
                throw new DatasetFormatException(labelsFile, "label " + max + " but only " + names.size() + " classes");
            }
        } else {
            names = List.of();
        }
        return new ImageDataset(name, images.data, labels, n, 1, h, w, names);
    }

    private record Idx(int[] dims, byte[] data) {}

    private static Idx readIdx(Path file, int expectedDims) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new DatasetFormatException(file, "no such file");
        }
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            raw.mark(2);
            int b0 = raw.read();
            int b1 = raw.read();
            raw.reset();
            InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(raw, 1 << 16) : raw;
            DataInputStream data = new DataInputStream(in);
            int magic;
            try {
                magic = data.readInt();
            } catch (EOFException e) {
                throw new DatasetFormatException(file, "file is empty or shorter than the 4-byte IDX header");
            }
            if ((magic >>> 16) != 0 || ((magic >> 8) & 0xff) != UNSIGNED_BYTE) {
                // The bytes themselves are not echoed: a client could read files under the data root that way.
                throw new DatasetFormatException(
                        file,
                        String.format(
                                "not an unsigned-byte IDX file (it does not start with the magic number 0x0000080%d)",
                                expectedDims));
            }
            int nd = magic & 0xff;
            if (nd != expectedDims) {
                throw new DatasetFormatException(file, "IDX file has " + nd + " dimensions, expected " + expectedDims);
            }
            int[] dims = new int[nd];
            long total = 1;
            for (int d = 0; d < nd; d++) {
                try {
                    dims[d] = data.readInt();
                } catch (EOFException e) {
                    throw new DatasetFormatException(file, "truncated IDX header");
                }
                if (dims[d] < 0) {
                    throw new DatasetFormatException(file, "negative dimension " + dims[d]);
                }
                total *= dims[d];
            }
            if (total > Integer.MAX_VALUE - 16) {
                throw new DatasetFormatException(file, "IDX payload of " + total + " bytes is too large");
            }
            if (in == raw && total > Files.size(file)) {
                throw new DatasetFormatException(
                        file,
                        "truncated: header announces " + total + " bytes of data, the file has " + Files.size(file));
            }
            // Read as the data arrives rather than allocated from the header: a gzip file's header may claim 2 GB.
            byte[] payload = data.readNBytes((int) total);
            int read = payload.length;
            if (read < total) {
                throw new DatasetFormatException(
                        file, "truncated: header announces " + total + " bytes of data, file has " + read);
            }
            return new Idx(dims, payload);
        } catch (ZipException e) {
            throw new DatasetFormatException(file, "corrupt gzip stream: " + e.getMessage(), e);
        } catch (EOFException e) {
            throw new DatasetFormatException(file, "truncated gzip stream", e);
        }
    }
}
