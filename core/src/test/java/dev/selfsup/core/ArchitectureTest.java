package dev.selfsup.core;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/** The shape of core: it holds the learning and knows nothing of services, and its packages form no cycle. */
@AnalyzeClasses(packages = "dev.selfsup.core", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {
    @ArchTest
    static final ArchRule coreKnowsNoServices = noClasses()
            .that()
            .resideInAPackage("dev.selfsup.core..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(
                    "io.grpc..",
                    "io.quarkus..",
                    "io.vertx..",
                    "io.smallrye..",
                    "jakarta.enterprise..",
                    "dev.selfsup.proto..",
                    "dev.selfsup.service..")
            .because("core is the learning library; the services adapt it");

    @ArchTest
    static final ArchRule packagesFormNoCycles =
            slices().matching("dev.selfsup.core.(*)..").should().beFreeOfCycles();
}
