package dev.selfsup.core.testing;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;

/** Images that tests of every module send: shipped in core's test jar. */
public final class TestImages {
    private TestImages() {}

    /** A PNG of a few dozen bytes whose header claims {@code side x side} pixels (a decompression bomb). */
    public static byte[] claimingPng(int side) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(out);
        d.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream h = new DataOutputStream(ihdr);
        h.writeInt(side);
        h.writeInt(side);
        h.write(new byte[] {8, 0, 0, 0, 0}); // 8-bit grey, deflate, no filter, no interlace
        chunk(d, "IHDR", ihdr.toByteArray());
        chunk(d, "IDAT", new byte[] {0x78, (byte) 0x9c, 0x63, 0, 0, 0, 1, 0, 1});
        chunk(d, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(DataOutputStream d, String type, byte[] data) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        d.writeInt(data.length);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }
}
