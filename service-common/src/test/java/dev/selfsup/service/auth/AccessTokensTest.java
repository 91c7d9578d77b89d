package dev.selfsup.service.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.Roles;
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
