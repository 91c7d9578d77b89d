package dev.selfsup.service;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes a failed call's message ({@code grpc-message}) percent-encoded as the gRPC protocol says: only bytes
 * outside printable ASCII, and '%'. The HTTP-port gRPC server would encode it as a URL (every ';', ',', '/',
 * ':' too), which some clients (Node's grpc-js) show undecoded. The message goes in the trailers as it should be
 * read, and the status itself carries none, so the server adds no second one.
 *
 * <p>Every message is kept short on the way: a quoted value a client sent ({@code 'like this'}) of more than
 * {@value #MAX_QUOTED} characters is cut and its length said, and no message is longer than {@value #MAX_MESSAGE}
 * characters. A message that echoed a 10,000-character name outgrew clients' header limits, and they saw a reset
 * stream instead of the status.
 */
@GlobalInterceptor
@ApplicationScoped
public class StatusMessages implements ServerInterceptor, Prioritized {
    static final Metadata.Key<String> GRPC_MESSAGE = Metadata.Key.of("grpc-message", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        return next.startCall(
                new SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        StatusMessages.close(delegate(), status, trailers);
                    }
                },
                headers);
    }

    /** Closes {@code call} with {@code status}, its message shortened and encoded in the trailers. */
    static void close(ServerCall<?, ?> call, Status status, Metadata trailers) {
        String message = status.getDescription();
        if (status.isOk() || message == null || message.isEmpty()) {
            call.close(status, trailers);
            return;
        }
        trailers.removeAll(GRPC_MESSAGE);
        trailers.put(GRPC_MESSAGE, encode(shortened(message)));
        call.close(status.withDescription(null), trailers);
    }

    /** The most characters of one quoted value in a message (a value cut by its service to 100 and "..." passes). */
    static final int MAX_QUOTED = 120;
    /** The most characters of a message. */
    static final int MAX_MESSAGE = 1000;

    private static final Pattern QUOTED = Pattern.compile("'([^']{" + (MAX_QUOTED + 1) + ",})'");

    /** The message with long quoted values cut (their length said) and at most {@value #MAX_MESSAGE} characters. */
    public static String shortened(String message) {
        Matcher m = QUOTED.matcher(message);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String v = m.group(1);
            m.appendReplacement(
                    out, Matcher.quoteReplacement("'" + v.substring(0, 100) + "...' (" + v.length() + " characters)"));
        }
        m.appendTail(out);
        if (out.length() > MAX_MESSAGE) {
            int n = out.length();
            out.setLength(MAX_MESSAGE - 40);
            out.append("... (message cut from ").append(n).append(" characters)");
        }
        return out.toString();
    }

    /** The protocol's percent-encoding: bytes outside 0x20..0x7E, and '%', as %XX of their UTF-8 bytes. */
    public static String encode(String message) {
        StringBuilder out = new StringBuilder(message.length());
        for (byte b : message.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c >= 0x20 && c <= 0x7e && c != '%') {
                out.append((char) c);
            } else {
                out.append('%')
                        .append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            }
        }
        return out.toString();
    }

    /** Outside the security layer ({@code Integer.MAX_VALUE - 100}), so its refusals are encoded alike. */
    @Override
    public int getPriority() {
        return Integer.MAX_VALUE - 20;
    }
}
