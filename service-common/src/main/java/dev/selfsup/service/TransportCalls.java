package dev.selfsup.service;

import io.grpc.ServerCall;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.server.GrpcServerRequest;
import java.lang.reflect.Field;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The HTTP-port transport's objects behind a gRPC call: vertx-grpc's request (which reads the call's messages) and
 * the HTTP/2 request under it (which receives its bytes). The gRPC bridge keeps them in private fields, so they are
 * found by their type, through any forwarding calls wrapped around the bridge's, and the fields are looked up once
 * per class. Only the interceptors that must act before the transport does use this ({@link OversizedMessages},
 * {@link StreamBytes}); each keeps working, with less, when a vertx-grpc release hides the objects.
 */
final class TransportCalls {
    private static final int MAX_WRAPPERS = 8;
    private static final Map<Class<?>, Map<Class<?>, Optional<Field>>> FIELDS = new ConcurrentHashMap<>();

    private TransportCalls() {}

    /** vertx-grpc's request behind {@code call}, or empty when the call does not carry one. */
    static Optional<GrpcServerRequest<?, ?>> request(ServerCall<?, ?> call) {
        Object current = call;
        for (int i = 0; i < MAX_WRAPPERS && current != null; i++) {
            Optional<Object> request = value(current, GrpcServerRequest.class);
            if (request.isPresent()) {
                return Optional.of((GrpcServerRequest<?, ?>) request.get());
            }
            current = value(current, ServerCall.class).orElse(null);
        }
        return Optional.empty();
    }

    /** The HTTP/2 request whose bytes {@code request} reads. */
    static Optional<HttpServerRequest> http(GrpcServerRequest<?, ?> request) {
        return value(request, HttpServerRequest.class).map(HttpServerRequest.class::cast);
    }

    private static Optional<Object> value(Object owner, Class<?> type) {
        Optional<Field> field = FIELDS.computeIfAbsent(owner.getClass(), c -> new ConcurrentHashMap<>())
                .computeIfAbsent(type, t -> field(owner.getClass(), t));
        if (field.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.ofNullable(field.get().get(owner));
        } catch (IllegalAccessException e) {
            return Optional.empty();
        }
    }

    private static Optional<Field> field(Class<?> owner, Class<?> type) {
        for (Class<?> c = owner; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (type.isAssignableFrom(f.getType())) {
                    try {
                        f.setAccessible(true);
                        return Optional.of(f);
                    } catch (RuntimeException inaccessible) {
                        return Optional.empty();
                    }
                }
            }
        }
        return Optional.empty();
    }
}
