package dev.selfsup.encoder;

import dev.selfsup.core.EngineInfo;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ServerInfo;
import dev.selfsup.proto.v1.SystemService;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Uni;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Answers what this service is and what it computes on. Blocking: the first call may load the engine. */
@GrpcService
public class SystemGrpcService implements SystemService {
    @ConfigProperty(name = "selfsup.device", defaultValue = "auto")
    String device;

    @Override
    @Blocking
    public Uni<ServerInfo> getServerInfo(GetServerInfoRequest request) {
        EngineInfo e = EngineInfo.current(device);
        return Uni.createFrom().item(ServerInfo.newBuilder().setService("encoder-service")
                .setSelfsupVersion(e.selfsupVersion()).setDjlVersion(e.djlVersion()).setEngine(e.engine())
                .setDevice(e.device()).setGpuCount(e.gpuCount()).build());
    }
}
