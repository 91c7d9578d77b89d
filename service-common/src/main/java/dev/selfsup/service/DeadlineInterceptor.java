package dev.selfsup.service;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.TimeUnit;

/**
 * Makes the client's deadline (the grpc-timeout header) visible to the service as {@link #DEADLINE}. The
 * HTTP-port gRPC server does not turn the header into an {@code io.grpc.Context} deadline, and a request whose
 * deadline has passed must not be computed.
 */
@GlobalInterceptor
@ApplicationScoped
public class DeadlineInterceptor implements ServerInterceptor {
    /** The call's deadline, or null when the client set none. */
    public static final Context.Key<Deadline> DEADLINE = Context.key("selfsup-deadline");

    private static final Metadata.Key<String> TIMEOUT =
            Metadata.Key.of("grpc-timeout", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Deadline d = Context.current().getDeadline();
        if (d == null) {
            d = parse(headers.get(TIMEOUT));
        }
        if (d == null) {
            return next.startCall(call, headers);
        }
        return Contexts.interceptCall(Context.current().withValue(DEADLINE, d), call, headers, next);
    }

    /** grpc-timeout is at most 8 digits and a unit: H, M, S, m (milli), u (micro) or n (nano). */
    static Deadline parse(String value) {
        if (value == null || value.length() < 2 || value.length() > 9) {
            return null;
        }
        long amount;
        try {
            amount = Long.parseLong(value.substring(0, value.length() - 1));
        } catch (NumberFormatException e) {
            return null;
        }
        TimeUnit unit = switch (value.charAt(value.length() - 1)) {
            case 'H' -> TimeUnit.HOURS;
            case 'M' -> TimeUnit.MINUTES;
            case 'S' -> TimeUnit.SECONDS;
            case 'm' -> TimeUnit.MILLISECONDS;
            case 'u' -> TimeUnit.MICROSECONDS;
            case 'n' -> TimeUnit.NANOSECONDS;
            default -> null;
        };
        return unit == null ? null : Deadline.after(amount, unit);
    }
}
