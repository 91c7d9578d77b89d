package dev.selfsup.tokenizer;

import dev.selfsup.core.EngineInfo;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the deep-learning engine has loaded; reports which device is used. */
@Readiness
@ApplicationScoped
public class EngineReadiness implements HealthCheck {
    @ConfigProperty(name = "selfsup.device", defaultValue = "auto")
    String device;

    @Override
    public HealthCheckResponse call() {
        try {
            EngineInfo e = EngineInfo.current(device);
            return HealthCheckResponse.named("engine").up().withData("engine", e.engine())
                    .withData("device", e.device()).withData("gpus", e.gpuCount()).build();
        } catch (RuntimeException | UnsatisfiedLinkError ex) {
            return HealthCheckResponse.named("engine").down().withData("error", String.valueOf(ex.getMessage())).build();
        }
    }
}
