package dev.selfsup.cli;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.ClientSecurity;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line without a server: help for every command, which token it sends, and where. */
class SelfsupTest {
    @TempDir
    Path dir;

    @Test
    void everySubcommandAnswersHelp() {
        CommandLine cl = Selfsup.commandLine();
        assertTrue(
                cl.getSubcommands().size() >= 10, cl.getSubcommands().keySet().toString());
        for (String name : cl.getSubcommands().keySet()) {
            StringWriter out = new StringWriter();
            CommandLine fresh = Selfsup.commandLine();
            fresh.setOut(new PrintWriter(out));
            fresh.setErr(new PrintWriter(out));
            assertEquals(0, fresh.execute(name, "--help"), name + ": " + out);
            assertTrue(out.toString().contains("Usage: selfsup " + name), name + ": " + out);
        }
    }

    @Test
    void commandsThatReadSendTheReaderToken() throws Exception {
        Path file = Files.writeString(dir.resolve("tokens"), "reader=r-token\noperator=o-token\n");
        Map<String, String> env = Map.of();
        assertEquals(
                "r-token",
                ClientSecurity.resolve(null, file, null, null, null, env, true).token());
        assertEquals(
                "o-token",
                ClientSecurity.resolve(null, file, null, null, null, env, false).token());
        // A token given on purpose is sent as it is.
        assertEquals(
                "given",
                ClientSecurity.resolve("given", file, null, null, null, env, true)
                        .token());
    }

    @Test
    void noTokenGoesWithoutTlsToAnotherHost() {
        ClientSecurity plain = ClientSecurity.token("t");
        // 192.0.2.0/24 is reserved for documentation: parsed here, never contacted.
        var e = assertThrows(
                IllegalArgumentException.class, () -> Selfsup.requireSafeTransport("192.0.2.10:8080", plain, false));
        assertTrue(e.getMessage().contains("--tls-ca") && e.getMessage().contains("--allow-plaintext"), e.getMessage());
        assertDoesNotThrow(() -> Selfsup.requireSafeTransport("localhost:8080", plain, false));
        assertDoesNotThrow(() -> Selfsup.requireSafeTransport("127.0.0.1:8080", plain, false));
        assertDoesNotThrow(() -> Selfsup.requireSafeTransport("[::1]:8080", plain, false));
        assertDoesNotThrow(() -> Selfsup.requireSafeTransport("192.0.2.10:8080", plain, true));
        assertDoesNotThrow(() -> Selfsup.requireSafeTransport("192.0.2.10:8080", ClientSecurity.none(), false));
        ClientSecurity tls = new ClientSecurity("t", dir.resolve("ca.crt"), null, null);
        assertDoesNotThrow(() -> Selfsup.requireSafeTransport("192.0.2.10:8080", tls, false));
    }
}
