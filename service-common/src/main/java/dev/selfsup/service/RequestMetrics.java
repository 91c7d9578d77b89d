package dev.selfsup.service;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Counts every gRPC call of a service once, when it ends, by method and status code, and times it:
 * {@code selfsup_<service>_requests_total{method,status}} and {@code selfsup_<service>_request_seconds{method}},
 * where {@code <service>} is {@code quarkus.application.name} without "-service". One interceptor for the three
 * services, so no call path can forget to count, and a call the client cancelled counts as CANCELLED.
 */
@GlobalInterceptor
@ApplicationScoped
public class RequestMetrics implements ServerInterceptor, Prioritized {
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final Map<String, Timer> timers = new ConcurrentHashMap<>();
    private final MeterRegistry registry;
    private final String prefix;

    @Inject
    public RequestMetrics(
            MeterRegistry registry, @ConfigProperty(name = "quarkus.application.name") String application) {
        this.registry = registry;
        this.prefix = "selfsup." + application.replaceFirst("-service$", "");
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String method = call.getMethodDescriptor().getBareMethodName();
        long t0 = System.nanoTime();
        AtomicBoolean counted = new AtomicBoolean();
        ServerCall<Q, R> counting = new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                if (counted.compareAndSet(false, true)) {
                    record(method, status.getCode().name(), System.nanoTime() - t0);
                }
                super.close(status, trailers);
            }
        };
        return new SimpleForwardingServerCallListener<>(next.startCall(counting, headers)) {
            @Override
            public void onCancel() {
                if (counted.compareAndSet(false, true)) {
                    record(method, Status.Code.CANCELLED.name(), System.nanoTime() - t0);
                }
                super.onCancel();
            }
        };
    }

    /** Counts one finished call. */
    void record(String method, String status, long nanos) {
        // Looked up in maps of our own: building and registering a meter per call shows in profiles.
        counters.computeIfAbsent(
                        method + ' ' + status,
                        k -> Counter.builder(prefix + ".requests")
                                .tag("method", method)
                                .tag("status", status)
                                .description("Requests by method and gRPC status")
                                .register(registry))
                .increment();
        timers.computeIfAbsent(
                        method,
                        m -> Timer.builder(prefix + ".request")
                                .tag("method", m)
                                .description("Request latency as the server sees it, from its start to its status")
                                .publishPercentileHistogram()
                                .minimumExpectedValue(Duration.ofNanos(100_000))
                                .maximumExpectedValue(Duration.ofSeconds(30))
                                .register(registry))
                .record(nanos, TimeUnit.NANOSECONDS);
    }

    /**
     * Outside every interceptor that can end a call (higher runs first): calls refused by the security layer or by
     * {@link StreamBytes} are counted too. Only {@link OversizedMessages}, which never closes a call, is outside it.
     */
    @Override
    public int getPriority() {
        return Integer.MAX_VALUE - 2;
    }
}
