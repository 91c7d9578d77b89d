package dev.selfsup.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.File;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The packaged service over TLS and mutual TLS, switched on as a user does (the profiles "tls" and "tls,mtls"),
 * with certificates from deploy/make-certs: clients that trust the CA get in; plaintext clients, clients trusting
 * another CA, and (mutual TLS) clients without a certificate do not. The token is still required over TLS.
 */
class TlsIT {
    private static final String TOKEN = "selfsup-operator-tls-it";

    @Test
    void tlsThenMutualTls() throws Exception {
        Path jar = Path.of("target/quarkus-app/quarkus-run.jar");
        assertTrue(Files.isRegularFile(jar), "package the service first (mvn verify)");
        Path certs = makeCerts("selfsup-it-certs");
        Path otherCa = makeCerts("selfsup-it-other-ca").resolve("ca.crt");
        Path ca = certs.resolve("ca.crt");
        Path root = Files.createTempDirectory("selfsup-it-data");
        Path var = Files.createTempDirectory("selfsup-it-var");
        String[] tls = {
            "-Dselfsup.auth.operator-tokens=" + TOKEN,
            "-Dselfsup.tls.cert=" + certs.resolve("server.crt"),
            "-Dselfsup.tls.key=" + certs.resolve("server.key"),
        };

        int port = freePort();
        Process p = TrainerRestartIT.start(jar, port, root, var, with(tls, "-Dquarkus.profile=tls"));
        try {
            ClientSecurity trusting = new ClientSecurity(TOKEN, ca, null, null);
            awaitServing(trusting, port);
            assertEquals("trainer-service", info(trusting, port));
            // The token is still needed.
            assertCode(Status.Code.UNAUTHENTICATED, new ClientSecurity(null, ca, null, null), port);
            // Nothing in plaintext, and no trust in a certificate from another CA.
            assertCode(Status.Code.UNAVAILABLE, ClientSecurity.token(TOKEN), port);
            assertCode(Status.Code.UNAVAILABLE, new ClientSecurity(TOKEN, otherCa, null, null), port);
        } finally {
            stop(p);
        }

        port = freePort();
        p = TrainerRestartIT.start(
                jar,
                port,
                root,
                var,
                with(tls, "-Dquarkus.profile=tls,mtls", "-Dselfsup.tls.client-ca=" + ca, "-Dselfsup.tls.ca=" + ca));
        try {
            ClientSecurity withCertificate =
                    new ClientSecurity(TOKEN, ca, certs.resolve("client.crt"), certs.resolve("client.key"));
            awaitServing(withCertificate, port);
            assertEquals("trainer-service", info(withCertificate, port));
            assertCode(Status.Code.UNAVAILABLE, new ClientSecurity(TOKEN, ca, null, null), port);
        } finally {
            stop(p);
        }
    }

    private static String[] with(String[] base, String... more) {
        String[] all = new String[base.length + more.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    /** Runs deploy/make-certs into a new directory. */
    static Path makeCerts(String prefix) throws Exception {
        Path dir = Files.createTempDirectory(prefix);
        Process mk = new ProcessBuilder("bash", "../deploy/make-certs", dir.toString())
                .redirectErrorStream(true)
                .redirectOutput(new File("target/" + prefix + ".log"))
                .start();
        assertTrue(mk.waitFor(120, TimeUnit.SECONDS) && mk.exitValue() == 0, "deploy/make-certs failed");
        return dir;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static String info(ClientSecurity who, int port) throws Exception {
        ManagedChannel ch = who.open("localhost:" + port);
        try {
            return SystemServiceGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(20, TimeUnit.SECONDS)
                    .getServerInfo(GetServerInfoRequest.getDefaultInstance())
                    .getService();
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static void assertCode(Status.Code code, ClientSecurity who, int port) throws Exception {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> info(who, port));
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
    }

    private static void awaitServing(ClientSecurity who, int port) throws Exception {
        ManagedChannel ch = who.open("localhost:" + port);
        try {
            TrainerRestartIT.awaitUp(ch);
        } finally {
            ch.shutdownNow();
        }
    }

    private static void stop(Process p) throws InterruptedException {
        p.destroy();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
    }
}
