package dev.selfsup.service;

import dev.selfsup.core.engine.EngineInfo;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the engine has loaded and passed the numerics self-check; reports device, CPU and instruction set. */
@Readiness
@ApplicationScoped
public class EngineReadiness implements HealthCheck {
    @Inject
    EngineCheck engine;

    @Override
    public HealthCheckResponse call() {
        EngineInfo e = engine.info();
        return HealthCheckResponse.named("engine")
                .up()
                .withData("engine", e.engine())
                .withData("device", e.device())
                .withData("gpus", e.gpuCount())
                .withData("cpu", e.cpu())
                .withData("cpu_isa", e.cpuIsa())
                .withData("numerics_check", e.numericsCheck())
                .withData("flavor", e.flavor())
                .withData("cuda", e.cudaVersion())
                .withData("driver", e.driverVersion())
                .build();
    }
}
