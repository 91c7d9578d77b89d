package dev.selfsup.service.testing;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.selfsup.client.ClientSecurity;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;

/**
 * Sends every method of a service a request whose every string field (nested ones too) holds 10,000 and then
 * 100,000 characters, as an operator, on a real channel, and checks the answer: a clean status (never INTERNAL or
 * UNKNOWN, never a reset stream) whose message is short. A message that echoed such a value whole outgrew the
 * client's header limit, and the client saw only {@code RST_STREAM}.
 */
public final class LongValues {
    /** The longest status message a client may get. */
    public static final int MAX_MESSAGE = 1200;

    private LongValues() {}

    /** Checks every method of {@code service}. */
    public static void check(int port, ServiceDescriptor service) throws Exception {
        ManagedChannel ch = Grpc.newChannelBuilderForAddress(
                        "localhost",
                        port,
                        ClientSecurity.token(AccessMatrix.OPERATOR_TOKEN).channelCredentials())
                .build();
        try {
            for (MethodDescriptor<?, ?> m : service.getMethods()) {
                for (int length : new int[] {10_000, 100_000}) {
                    Status s = call(ch, m, "x".repeat(length));
                    String where = m.getBareMethodName() + " with " + length + " characters: " + s;
                    assertFalse(s.getCode() == Status.Code.INTERNAL || s.getCode() == Status.Code.UNKNOWN, where);
                    String d = s.getDescription() == null ? "" : s.getDescription();
                    assertFalse(
                            s.getCode() == Status.Code.UNAVAILABLE && (d.isEmpty() || d.contains("RST_STREAM")), where);
                    assertTrue(
                            d.length() <= MAX_MESSAGE,
                            m.getBareMethodName() + ": a message of " + d.length() + " characters: "
                                    + d.substring(0, Math.min(300, d.length())));
                }
            }
        } finally {
            ch.shutdownNow();
        }
    }

    /** The method's request with every string field set to {@code value}. */
    @SuppressWarnings("unchecked")
    static <Q> Q request(MethodDescriptor<Q, ?> m, String value) {
        Message prototype =
                (Message) ((MethodDescriptor.PrototypeMarshaller<Q>) m.getRequestMarshaller()).getMessagePrototype();
        return (Q) filled(prototype.toBuilder(), value, 0).build();
    }

    private static Message.Builder filled(Message.Builder b, String value, int depth) {
        for (FieldDescriptor f : b.getDescriptorForType().getFields()) {
            if (f.getJavaType() == FieldDescriptor.JavaType.STRING) {
                if (f.isRepeated()) {
                    b.addRepeatedField(f, value);
                } else {
                    b.setField(f, value);
                }
            } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE && depth < 2 && !f.isMapField()) {
                Message.Builder sub = filled(b.newBuilderForField(f), value, depth + 1);
                if (f.isRepeated()) {
                    b.addRepeatedField(f, sub.build());
                } else {
                    b.setField(f, sub.build());
                }
            }
        }
        return b;
    }

    private static <Q, R> Status call(ManagedChannel ch, MethodDescriptor<Q, R> m, String value) throws Exception {
        return AccessMatrix.call(ch, m, request(m, value));
    }
}
