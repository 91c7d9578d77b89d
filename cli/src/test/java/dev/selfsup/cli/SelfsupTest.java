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
import java.util.ArrayList;
import java.util.List;
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
        List<List<String>> commands = new ArrayList<>();
        collect(Selfsup.commandLine(), new ArrayList<>(), commands);
        assertTrue(commands.size() >= 17, commands.toString());
        for (List<String> command : commands) {
            StringWriter out = new StringWriter();
            CommandLine fresh = Selfsup.commandLine();
            fresh.setOut(new PrintWriter(out));
            fresh.setErr(new PrintWriter(out));
            List<String> args = new ArrayList<>(command);
            args.add("--help");
            String name = String.join(" ", command);
            assertEquals(0, fresh.execute(args.toArray(new String[0])), name + ": " + out);
            assertTrue(out.toString().contains("Usage: selfsup " + name), name + ": " + out);
        }
    }

    /** Every command and nested subcommand, as the words that select it. */
    private static void collect(CommandLine command, List<String> path, List<List<String>> out) {
        for (var e : command.getSubcommands().entrySet()) {
            List<String> sub = new ArrayList<>(path);
            sub.add(e.getKey());
            out.add(sub);
            collect(e.getValue(), sub, out);
        }
    }

    @Test
    void anUnknownMethodGetsTheClosestNameAndTheList() {
        var e = assertThrows(IllegalArgumentException.class, () -> Selfsup.Train.methodOf("simclr2"));
        assertTrue(e.getMessage().contains("did you mean 'simclr'?"), e.getMessage());
        assertTrue(e.getMessage().contains("moco-v2") && e.getMessage().contains("barlow-twins"), e.getMessage());
        assertEquals("moco-v2", Selfsup.methodName(Selfsup.Train.methodOf("moco")));
        assertEquals("; did you mean 'byol'?", Suggestions.didYouMean("boyl", List.of("simclr", "byol", "dino")));
        assertEquals("", Suggestions.didYouMean("resnet", List.of("simclr", "byol", "dino")), "nothing close");
        assertEquals(3, Suggestions.distance("kitten", "sitting"));
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
