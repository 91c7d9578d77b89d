package dev.selfsup.service.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.selfsup.client.ClientSecurity;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Calls every method of a service, on a real channel, with an empty request, as a caller without a token, with a
 * wrong token and as a reader, and checks who gets in: nobody without a valid token; a reader only into the
 * methods named as reads. A method added without a role fails it. Operators are not tried here: an empty request
 * of theirs might start something; each service's tests call them as an operator.
 */
public final class AccessMatrix {
    /** The reader token of the test profile. */
    public static final String READER_TOKEN = "test-reader-token";
    /** The operator token of the test profile. */
    public static final String OPERATOR_TOKEN = "test-operator-token";

    private AccessMatrix() {}

    /**
     * Checks every method of {@code service}.
     *
     * @param reads the bare names of the methods a reader may call (e.g. "Embed"); the others need an operator
     */
    public static void check(int port, ServiceDescriptor service, Set<String> reads) throws Exception {
        List<ManagedChannel> channels = new ArrayList<>();
        try {
            ManagedChannel anonymous = open(port, ClientSecurity.none(), channels);
            ManagedChannel wrong = open(port, ClientSecurity.token("selfsup-operator-not-a-token"), channels);
            ManagedChannel reader = open(port, ClientSecurity.token(READER_TOKEN), channels);
            List<String> seen = new ArrayList<>();
            for (MethodDescriptor<?, ?> m : service.getMethods()) {
                String name = m.getBareMethodName();
                seen.add(name);
                Status a = call(anonymous, m);
                assertEquals(Status.Code.UNAUTHENTICATED, a.getCode(), name + " without a token: " + a);
                assertTrue(a.getDescription().contains("Bearer"), name + ": " + a);
                Status w = call(wrong, m);
                assertEquals(Status.Code.UNAUTHENTICATED, w.getCode(), name + " with a wrong token: " + w);
                assertTrue(w.getDescription().contains("not valid"), name + ": " + w);
                Status r = call(reader, m);
                if (reads.contains(name)) {
                    assertFalse(
                            r.getCode() == Status.Code.UNAUTHENTICATED || r.getCode() == Status.Code.PERMISSION_DENIED,
                            name + " is a read, a reader was refused: " + r);
                } else {
                    assertEquals(Status.Code.PERMISSION_DENIED, r.getCode(), name + " as a reader: " + r);
                    assertTrue(r.getDescription().contains("operator token"), name + ": " + r);
                }
            }
            assertTrue(seen.containsAll(reads), "reads " + reads + " not all in " + seen);
        } finally {
            channels.forEach(ManagedChannel::shutdownNow);
        }
    }

    private static ManagedChannel open(int port, ClientSecurity who, List<ManagedChannel> channels) {
        ManagedChannel ch = Grpc.newChannelBuilderForAddress("localhost", port, who.channelCredentials())
                .build();
        channels.add(ch);
        return ch;
    }

    /** One call with the method's empty request: its status, or OK as soon as an answer arrives. */
    @SuppressWarnings("unchecked")
    static <Q, R> Status call(ManagedChannel ch, MethodDescriptor<Q, R> m) throws Exception {
        Q empty = ((MethodDescriptor.PrototypeMarshaller<Q>) m.getRequestMarshaller()).getMessagePrototype();
        return call(ch, m, empty);
    }

    /** One call with {@code request} (the only one of a stream): its status, or OK as soon as an answer arrives. */
    static <Q, R> Status call(ManagedChannel ch, MethodDescriptor<Q, R> m, Q request) throws Exception {
        ClientCall<Q, R> call = ch.newCall(m, CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS));
        CompletableFuture<Status> done = new CompletableFuture<>();
        call.start(
                new ClientCall.Listener<>() {
                    @Override
                    public void onMessage(R message) {
                        if (done.complete(Status.OK)) {
                            call.cancel("answered", null);
                        }
                    }

                    @Override
                    public void onClose(Status status, Metadata trailers) {
                        done.complete(status);
                    }
                },
                new Metadata());
        call.request(1);
        call.sendMessage(request);
        call.halfClose();
        return done.get(60, TimeUnit.SECONDS);
    }
}
