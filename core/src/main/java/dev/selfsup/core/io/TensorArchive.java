package dev.selfsup.core.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * The one file format of selfsup for checkpoints and exported encoders: a JSON header and named tensors,
 * closed by a CRC32 of everything before it.
 *
 * <pre>
 * "SELFSUP1"  int32 header length  header (UTF-8 JSON)
 * int32 tensor count, then per tensor: UTF name, UTF dtype, int32 rank, int64 dims..., int64 bytes, data
 * int64 CRC32
 * </pre>
 *
 * Files are written to a temporary file in the same folder, forced to disk and renamed over the target, so a
 * reader sees the old file or the new one, never half of one. A truncated or altered file fails its CRC.
 */
public final class TensorArchive {
    private static final byte[] MAGIC = "SELFSUP1".getBytes(StandardCharsets.US_ASCII);

    /** One tensor as bytes: dtype name as DJL spells it, shape, and data in native little-endian order. */
    public record Tensor(String dtype, long[] shape, byte[] data) {
        public static Tensor of(NDArray array) {
            return new Tensor(array.getDataType().name(), array.getShape().getShape(), array.toByteArray());
        }

        public Shape djlShape() {
            return new Shape(shape);
        }

        public DataType djlType() {
            return DataType.valueOf(dtype);
        }

        /** Writes these values into {@code target}, which must have the same shape and type. */
        public void copyInto(NDArray target, String name) {
            if (!target.getShape().equals(djlShape()) || target.getDataType() != djlType()) {
                throw new IllegalArgumentException("tensor '" + name + "' is " + dtype + djlShape()
                        + " in the file but " + target.getDataType() + target.getShape() + " in the model");
            }
            target.set(ByteBuffer.wrap(data).order(ByteOrder.nativeOrder()));
        }
    }

    /** A header and the tensors, in order. */
    public record Contents(String header, Map<String, Tensor> tensors) {}

    private TensorArchive() {}

    /** Writes atomically: a temporary file beside {@code file}, fsync, rename. */
    public static void write(Path file, String headerJson, Map<String, Tensor> tensors) throws IOException {
        Path tmp = AtomicFiles.tempBeside(file);
        try {
            try (FileChannel ch =
                    FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                OutputStream raw = Channels.newOutputStream(ch);
                CRC32 crc = new CRC32();
                DataOutputStream out =
                        new DataOutputStream(new CheckedOutputStream(new BufferedOutputStream(raw, 1 << 20), crc));
                out.write(MAGIC);
                byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
                out.writeInt(header.length);
                out.write(header);
                out.writeInt(tensors.size());
                for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                    Tensor t = e.getValue();
                    out.writeUTF(e.getKey());
                    out.writeUTF(t.dtype());
                    out.writeInt(t.shape().length);
                    for (long d : t.shape()) {
                        out.writeLong(d);
                    }
                    out.writeLong(t.data().length);
                    out.write(t.data());
                }
                out.flush();
                long sum = crc.getValue();
                DataOutputStream tail = new DataOutputStream(raw);
                tail.writeLong(sum);
                tail.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            try (FileChannel d = FileChannel.open(tmp.getParent(), StandardOpenOption.READ)) {
                d.force(true); // make the rename itself durable
            } catch (IOException ignored) {
                // some file systems cannot open a directory; the rename is still atomic
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Reads and verifies a file; a truncated or corrupt one gives an exception that names it and says why. */
    public static Contents read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, file.toString());
        }
    }

    /** Reads and verifies an archive from a stream; {@code source} names it in errors. */
    public static Contents read(InputStream stream, String source) throws IOException {
        CRC32 crc = new CRC32();
        DataInputStream in = new DataInputStream(new CheckedInputStream(new BufferedInputStream(stream, 1 << 20), crc));
        try {
            byte[] magic = in.readNBytes(MAGIC.length);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new IOException(source + ": not a selfsup checkpoint or encoder file (bad magic)");
            }
            int headerLength = in.readInt();
            if (headerLength < 0 || headerLength > (64 << 20)) {
                throw new IOException(source + ": corrupt header length " + headerLength);
            }
            String header = new String(in.readNBytes(headerLength), StandardCharsets.UTF_8);
            int count = in.readInt();
            if (count < 0 || count > 1_000_000) {
                throw new IOException(source + ": corrupt tensor count " + count);
            }
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (int i = 0; i < count; i++) {
                String name = in.readUTF();
                String dtype = in.readUTF();
                int rank = in.readInt();
                if (rank < 0 || rank > 16) {
                    throw new IOException(source + ": corrupt rank " + rank + " of tensor '" + name + "'");
                }
                long[] shape = new long[rank];
                for (int d = 0; d < rank; d++) {
                    shape[d] = in.readLong();
                }
                long bytes = in.readLong();
                if (bytes < 0 || bytes > Integer.MAX_VALUE - 16) {
                    throw new IOException(source + ": corrupt size " + bytes + " of tensor '" + name + "'");
                }
                byte[] data = in.readNBytes((int) bytes);
                if (data.length != bytes) {
                    throw new EOFException();
                }
                tensors.put(name, new Tensor(dtype, shape, data));
            }
            long expected = crc.getValue();
            long stored = in.readLong(); // read after taking the sum: the trailer is not part of it
            if (stored != expected) {
                throw new IOException(source + ": checksum mismatch: the file is corrupt or was altered");
            }
            return new Contents(header, tensors);
        } catch (EOFException e) {
            throw new IOException(source + ": truncated: the file ends before its checksum", e);
        }
    }

    /** The archive as bytes, e.g. to stream it over the network. */
    public static byte[] toBytes(String headerJson, Map<String, Tensor> tensors) throws IOException {
        Path tmp = Files.createTempFile("selfsup-archive", ".bin");
        try {
            write(tmp, headerJson, tensors);
            return Files.readAllBytes(tmp);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
