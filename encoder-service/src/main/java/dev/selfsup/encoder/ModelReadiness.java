package dev.selfsup.encoder;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready only when a model has a default version to serve: before that, every Embed would fail. */
@Readiness
@ApplicationScoped
public class ModelReadiness implements HealthCheck {
    @Inject
    ModelRegistry registry;

    @Override
    public HealthCheckResponse call() {
        var b = HealthCheckResponse.named("models").withData("restored", registry.restored());
        var ready = registry.list("").stream()
                .filter(v -> v.state() == ModelRegistry.State.READY)
                .map(v -> v.record().name() + ":" + v.record().version())
                .toList();
        b.withData("ready", String.join(",", ready));
        return registry.hasDefaultModel() ? b.up().build() : b.down().build();
    }
}
