package dev.selfsup.core;

import static com.tngtech.archunit.core.domain.JavaCall.Predicates.target;
import static com.tngtech.archunit.core.domain.properties.HasName.Predicates.nameMatching;
import static com.tngtech.archunit.core.domain.properties.HasOwner.Predicates.With.owner;
import static com.tngtech.archunit.core.domain.properties.HasParameterTypes.Predicates.rawParameterTypes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;
import java.util.List;

/**
 * The shape of core: it holds the learning and knows nothing of services, its packages form no cycle, and it
 * multiplies and divides arrays by plain numbers only through {@link dev.selfsup.core.engine.Scalars}.
 */
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

    @ArchTest
    static final ArchRule numbersGoThroughScalars = noClasses()
            .that()
            .doNotHaveFullyQualifiedName("dev.selfsup.core.engine.Scalars")
            .should()
            .callMethodWhere(target(owner(nameMatching(
                            "ai\\.djl\\.(ndarray\\.NDArray|ndarray\\.NDArrays|pytorch\\.engine\\.PtNDArray)")))
                    .and(target(nameMatching("(mul|div|pow|maximum|minimum|rdiv|rpow)i?")))
                    // Any parameter a Number: NDArray.mul(Number) and NDArrays.mul(NDArray, Number) alike.
                    .and(target(rawParameterTypes(DescribedPredicate.describe(
                            "a Number among them",
                            (List<JavaClass> types) -> types.stream().anyMatch(t -> t.isEquivalentTo(Number.class)))))))
            .because("DJL keeps such a number in a Java buffer that the backward pass may read after it is freed; "
                    + "Scalars holds it in engine memory (ScalarLifetimeTest)");
}
