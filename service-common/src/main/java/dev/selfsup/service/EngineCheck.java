package dev.selfsup.service;

import dev.selfsup.core.engine.EngineInfo;
import dev.selfsup.core.numerics.CpuIsaGuard;
import dev.selfsup.core.numerics.NumericsGuard;
import dev.selfsup.core.numerics.NumericsReport;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Loads the engine when the service starts and runs the numerics self-check (through {@link EngineInfo}): a
 * service on a CPU that computes wrongly refuses to start, with a message that names the CPU, the op and the fix,
 * instead of training or serving wrong numbers. Exports the result as
 * {@code selfsup_numerics_check_passed{isa, policy}} (1 when passed) and
 * {@code selfsup_numerics_check_max_relative_error}.
 */
@Startup
@ApplicationScoped
public class EngineCheck {
    @ConfigProperty(name = "selfsup.device", defaultValue = "auto")
    String device;

    @Inject
    MeterRegistry registry;

    private EngineInfo info;

    @PostConstruct
    void check() {
        info = EngineInfo.current(device);
        NumericsReport report = NumericsGuard.lastReport();
        CpuIsaGuard.IsaDecision isa = CpuIsaGuard.apply();
        Gauge.builder("selfsup.numerics.check.passed", report, r -> r.passed() ? 1 : 0)
                .tag("isa", isa.cap())
                .tag("policy", isa.policy())
                .description("1 when the engine's ops matched float64 references on this CPU at start")
                .strongReference(true)
                .register(registry);
        Gauge.builder("selfsup.numerics.check.max.relative.error", report, NumericsReport::largestError)
                .description("The numerics self-check's largest error relative to the reference")
                .strongReference(true)
                .register(registry);
    }

    /** The engine as checked at start. */
    public EngineInfo info() {
        return info;
    }
}
