package dev.selfsup.service;

import dev.selfsup.core.engine.EngineInfo;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ServerInfo;
import dev.selfsup.proto.v1.SystemService;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Answers what this service is and what it computes on, as checked at start (no engine work per call). */
@GrpcService
public class SystemGrpcService implements SystemService {
    @ConfigProperty(name = "quarkus.application.name")
    String service;

    @Inject
    EngineCheck engine;

    @Override
    public Uni<ServerInfo> getServerInfo(GetServerInfoRequest request) {
        EngineInfo e = engine.info();
        return Uni.createFrom().item(ServerInfo.newBuilder().setService(service).setSelfsupVersion(e.selfsupVersion())
                .setDjlVersion(e.djlVersion()).setEngine(e.engine()).setDevice(e.device()).setGpuCount(e.gpuCount())
                .setCpu(e.cpu()).setCpuIsa(e.cpuIsa()).setNumericsCheck(e.numericsCheck()).build());
    }
}
