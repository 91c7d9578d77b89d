package dev.selfsup.service.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.proto.Roles;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AccessTokensTest {
    @TempDir
    Path dir;

    private AccessTokens tokens(Path file) {
        AccessTokens t = new AccessTokens();
        t.enabled = true;
        t.file = file;
        t.readerTokens = Optional.empty();
        t.operatorTokens = Optional.empty();
        t.init();
        return t;
    }

    @Test
    void rolesFromTheFileItMade() throws Exception {
        Path file = dir.resolve("auth/tokens");
        AccessTokens t = tokens(file);
        assertTrue(Files.isRegularFile(file));
        String operator = t.operatorToken().orElseThrow();
        assertEquals(Set.of(Roles.OPERATOR, Roles.READER), t.rolesOf(operator));
        String reader = Files.readAllLines(file).stream()
                .filter(l -> l.startsWith("reader="))
                .findFirst()
                .orElseThrow()
                .substring("reader=".length());
        assertEquals(Set.of(Roles.READER), t.rolesOf(reader));
        assertEquals(Set.of(), t.rolesOf("selfsup-operator-guess"));
        assertEquals(Set.of(), t.rolesOf(""));
        assertFalse(t.whereToFind().contains(dir.toString()), "no server path in messages");
    }

    @Test
    void outgoingCallsFollowTheDocumentedRotationSteps() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "reader=r-old\noperator=o-old\n");
        SuiteChannels channels = new SuiteChannels();
        channels.tokens = tokens(file);
        channels.token = Optional.empty();
        dev.selfsup.client.BearerToken credentials = new dev.selfsup.client.BearerToken(channels::currentToken);
        assertEquals("Bearer o-old", sent(credentials));
        // 1. the new token added to its line; 3. the old one removed (2 is moving the clients).
        for (String line : new String[] {"operator=o-new,o-old", "operator=o-new"}) {
            Files.writeString(file, "reader=r-old\n" + line + "\n");
            Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + 5000 + line.length()));
            Thread.sleep(1100);
            assertEquals("Bearer o-new", sent(credentials), line);
        }
    }

    /** The authorization metadata a call would carry now. */
    private static String sent(io.grpc.CallCredentials credentials) {
        String[] out = new String[1];
        credentials.applyRequestMetadata(null, Runnable::run, new io.grpc.CallCredentials.MetadataApplier() {
            @Override
            public void apply(io.grpc.Metadata headers) {
                out[0] = headers.get(dev.selfsup.client.BearerToken.AUTHORIZATION);
            }

            @Override
            public void fail(io.grpc.Status status) {
                throw status.asRuntimeException();
            }
        });
        return out[0];
    }

    @Test
    void anEditThatKeepsTheModificationTimeIsSeen() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "reader=r-1\noperator=o-1\n");
        FileTime fixed = Files.getLastModifiedTime(file);
        AccessTokens t = tokens(file);
        Files.writeString(file, "reader=r-1\noperator=o-2\n");
        Files.setLastModifiedTime(file, fixed);
        Thread.sleep(1100);
        assertEquals(Set.of(Roles.OPERATOR, Roles.READER), t.rolesOf("o-2"));
        assertEquals(Set.of(), t.rolesOf("o-1"));
    }

    @Test
    void aFileOthersCanWriteIsRefusedAtStartAndNeverTakenOnReload() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "reader=r-1\noperator=o-1\n");
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-r--"));
        IllegalStateException e =
                org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> tokens(file));
        assertTrue(e.getMessage().contains("can be written by other users"), e.getMessage());
        assertFalse(e.getMessage().contains("o-1"), "no token in the message");

        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        AccessTokens t = tokens(file);
        Files.writeString(file, "reader=r-1\noperator=o-attacker\n");
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
        Thread.sleep(1100);
        assertEquals(Set.of(), t.rolesOf("o-attacker"), "tokens written while others could write are not taken");
        assertEquals(Set.of(Roles.OPERATOR, Roles.READER), t.rolesOf("o-1"));
    }

    @Test
    void aChangedFileIsReadAgainRotationWithoutRestart() throws Exception {
        Path file = dir.resolve("tokens");
        Files.writeString(file, "reader=r-old\noperator=o-old\n");
        AccessTokens t = tokens(file);
        assertEquals(Set.of(Roles.OPERATOR, Roles.READER), t.rolesOf("o-old"));
        Files.writeString(file, "reader=r-old\noperator=o-new,o-old\n");
        Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + 5000));
        Thread.sleep(1100);
        assertEquals(Set.of(Roles.OPERATOR, Roles.READER), t.rolesOf("o-new"));
        assertEquals(Set.of(Roles.OPERATOR, Roles.READER), t.rolesOf("o-old"));
        Files.writeString(file, "reader=r-old\noperator=o-new\n");
        Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + 10000));
        Thread.sleep(1100);
        assertEquals(Set.of(), t.rolesOf("o-old"), "the removed token no longer works");
        assertEquals("o-new", t.operatorToken().orElseThrow());
    }

    @Test
    void tokensFromConfigurationNeedNoFile() {
        AccessTokens t = new AccessTokens();
        t.enabled = true;
        t.file = dir.resolve("never-made");
        t.readerTokens = Optional.of(List.of("r1"));
        t.operatorTokens = Optional.of(List.of("o1", "o2"));
        t.init();
        assertFalse(Files.exists(t.file));
        assertEquals(Set.of(Roles.READER), t.rolesOf("r1"));
        assertEquals(Set.of(Roles.OPERATOR, Roles.READER), t.rolesOf("o2"));
        assertTrue(t.whereToFind().contains("operator of this service"));
    }

    @Test
    void anUnwritablePlaceStopsTheStartWithAClearMessage() throws Exception {
        Path blocker = dir.resolve("not-a-dir");
        Files.writeString(blocker, "x");
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> tokens(blocker.resolve("auth/tokens")));
        assertTrue(e.getMessage().contains("selfsup.auth.token-file"), e.getMessage());
    }
}
