package dev.selfsup.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenFileTest {
    @TempDir
    Path dir;

    @Test
    void madeOnceReadableByItsOwnerOnlyThenRead() throws Exception {
        Path file = dir.resolve("state/auth/tokens");
        TokenFile.Created first = TokenFile.readOrCreate(file);
        assertTrue(first.created());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertFalse(TokenFile.openToOthers(file));
        String reader = first.tokens().reader().get(0);
        String operator = first.tokens().operator().get(0);
        assertTrue(reader.startsWith("selfsup-reader-") && operator.startsWith("selfsup-operator-"));
        // 32 random bytes in base64url: 43 characters after the prefix.
        assertEquals(43, operator.length() - "selfsup-operator-".length());
        assertNotEquals(reader, operator);
        TokenFile.Created again = TokenFile.readOrCreate(file);
        assertFalse(again.created());
        assertEquals(first.tokens(), again.tokens());
        try (var files = Files.list(file.getParent())) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void servicesStartingTogetherShareOneFile() throws Exception {
        Path file = dir.resolve("tokens");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<TokenFile.Created>> all = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                all.add(pool.submit((Callable<TokenFile.Created>) () -> TokenFile.readOrCreate(file)));
            }
            int created = 0;
            for (Future<TokenFile.Created> f : all) {
                TokenFile.Created c = f.get();
                created += c.created() ? 1 : 0;
                assertEquals(TokenFile.read(file), c.tokens());
            }
            assertEquals(1, created);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void severalTokensPerRoleForRotation() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "# rotated\nreader=r1\noperator=new-op, old-op\n");
        TokenFile.Tokens t = TokenFile.read(file);
        assertEquals(List.of("r1"), t.reader());
        assertEquals(List.of("new-op", "old-op"), t.operator());
    }

    @Test
    void clientsFindTheirTokenByFlagThenEnvironmentThenFile() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "reader=r1\noperator=o1\n");
        Map<String, String> env = Map.of(ClientSecurity.TOKEN_ENV, "from-env");
        assertEquals(
                "flag",
                ClientSecurity.resolve("flag", file, null, null, null, env).token());
        assertEquals(
                "from-env",
                ClientSecurity.resolve(null, file, null, null, null, env).token());
        assertEquals(
                "o1",
                ClientSecurity.resolve(null, file, null, null, null, Map.of()).token());
        assertEquals(
                "o1",
                ClientSecurity.resolve(
                                null, null, null, null, null, Map.of(ClientSecurity.TOKEN_FILE_ENV, file.toString()))
                        .token());
        Files.writeString(file, "reader=r1\n");
        assertEquals(
                "r1",
                ClientSecurity.resolve(null, file, null, null, null, Map.of()).token());
        IllegalArgumentException missing = assertThrows(
                IllegalArgumentException.class,
                () -> ClientSecurity.resolve(null, dir.resolve("nope"), null, null, null, Map.of()));
        assertTrue(missing.getMessage().contains("does not exist"));
        ClientSecurity plain = ClientSecurity.resolve("t", null, null, null, null, Map.of());
        assertFalse(plain.tls());
        assertNull(plain.caFile());
        assertThrows(IllegalArgumentException.class, () -> new ClientSecurity("t", dir, dir, null));
        assertThrows(IllegalArgumentException.class, () -> new ClientSecurity("t", null, dir, dir));
        assertThrows(
                IllegalArgumentException.class, () -> ClientSecurity.token("t").open("no-port"));
    }
}
