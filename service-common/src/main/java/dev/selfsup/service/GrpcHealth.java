package dev.selfsup.service;

import dev.selfsup.core.engine.EngineThreads;
import io.grpc.BindableService;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.health.SmallRyeHealthReporter;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.inject.Any;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The standard gRPC health service ({@code grpc.health.v1.Health}), agreeing with {@code /q/health}:
 * <ul>
 *   <li>the server ({@code ""}) and each of its services are SERVING exactly when {@code /q/health/ready} is UP
 *       (the encoder-service, for example, only once a model has a default version), so a gRPC readiness probe
 *       routes traffic as the HTTP one would;
 *   <li>{@code "liveness"} is SERVING while the process answers: for a liveness probe, which must not restart a
 *       service that is only waiting for a model;
 *   <li>any other name is NOT_FOUND for Check and SERVICE_UNKNOWN for Watch, as the protocol says.
 * </ul>
 * Watch sends the current status, then each change (looked at every second).
 */
@GrpcService
public class GrpcHealth extends HealthGrpc.HealthImplBase {
    /** The service name a liveness probe asks for. */
    public static final String LIVENESS = "liveness";

    private final GrpcCalls calls = new GrpcCalls("health", 1, null);
    private final ScheduledExecutorService watcher =
            Executors.newSingleThreadScheduledExecutor(EngineThreads.factory("health-watch"));

    @Inject
    SmallRyeHealthReporter health;

    @Inject
    @Any
    Instance<BindableService> services;

    private volatile Set<String> names;

    @PreDestroy
    void close() {
        watcher.shutdownNow();
        calls.close();
    }

    @Override
    public void check(HealthCheckRequest request, StreamObserver<HealthCheckResponse> out) {
        calls.blocking(out, () -> {
            ServingStatus s = status(request.getService());
            if (s == ServingStatus.SERVICE_UNKNOWN) {
                throw Status.NOT_FOUND
                        .withDescription("no service named '" + request.getService() + "' here; known: \"\" (the "
                                + "server), " + LIVENESS + ", " + String.join(", ", names()))
                        .asRuntimeException();
            }
            return HealthCheckResponse.newBuilder().setStatus(s).build();
        });
    }

    @Override
    public void watch(HealthCheckRequest request, StreamObserver<HealthCheckResponse> out) {
        AtomicReference<ServingStatus> last = new AtomicReference<>();
        ServerCallStreamObserver<HealthCheckResponse> call = (ServerCallStreamObserver<HealthCheckResponse>) out;
        ScheduledFuture<?> task = watcher.scheduleWithFixedDelay(
                () -> {
                    try {
                        ServingStatus s = status(request.getService());
                        if (s != last.getAndSet(s) && !call.isCancelled()) {
                            out.onNext(HealthCheckResponse.newBuilder()
                                    .setStatus(s)
                                    .build());
                        }
                    } catch (RuntimeException e) {
                        // The call ended meanwhile; the cancel handler stops this task.
                    }
                },
                0,
                1,
                TimeUnit.SECONDS);
        call.setOnCancelHandler(() -> task.cancel(false));
    }

    private ServingStatus status(String service) {
        if (LIVENESS.equals(service)) {
            return ServingStatus.SERVING;
        }
        if (!service.isEmpty() && !names().contains(service)) {
            return ServingStatus.SERVICE_UNKNOWN;
        }
        return health.getReadiness().isDown() ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
    }

    /** The gRPC services of this process, by their full names. */
    private Set<String> names() {
        if (names == null) {
            Set<String> n = new TreeSet<>();
            for (BindableService s : services) {
                n.add(s.bindService().getServiceDescriptor().getName());
            }
            names = n;
        }
        return names;
    }
}
