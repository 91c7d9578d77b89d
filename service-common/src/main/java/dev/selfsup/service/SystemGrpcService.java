package dev.selfsup.service;

import dev.selfsup.core.engine.EngineInfo;
import dev.selfsup.proto.Roles;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ServerInfo;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.annotation.security.RolesAllowed;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Answers what this service is and what it computes on, as checked at start (no engine work per call). */
@GrpcService
public class SystemGrpcService extends SystemServiceGrpc.SystemServiceImplBase {
    private static final GrpcCalls CALLS = new GrpcCalls("system-info", 1, null);

    @ConfigProperty(name = "quarkus.application.name")
    String service;

    @Inject
    EngineCheck engine;

    @RolesAllowed(Roles.READER)
    @Override
    public void getServerInfo(GetServerInfoRequest request, StreamObserver<ServerInfo> out) {
        CALLS.unary(out, () -> {
            EngineInfo e = engine.info();
            return ServerInfo.newBuilder()
                    .setService(service)
                    .setSelfsupVersion(e.selfsupVersion())
                    .setDjlVersion(e.djlVersion())
                    .setEngine(e.engine())
                    .setDevice(e.device())
                    .setGpuCount(e.gpuCount())
                    .setCpu(e.cpu())
                    .setCpuIsa(e.cpuIsa())
                    .setNumericsCheck(e.numericsCheck())
                    .setFlavor(e.flavor())
                    .setCudaVersion(e.cudaVersion())
                    .setDriverVersion(e.driverVersion())
                    .build();
        });
    }
}
