package dev.selfsup.deployment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The Kubernetes manifests (deploy/kubernetes) read as typed objects of the Kubernetes API (fabric8's model,
 * generated from the API's OpenAPI schema): every document has a known kind, no field unknown to its type, the
 * references between them hold; and they carry the compose file's settings for each service (ports, memory,
 * health paths, volume paths, environment). The overlays are rendered with {@code kubectl kustomize} where kubectl
 * is installed (CI installs it); the base's files are read directly either way.
 */
class KubernetesManifestsTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path K8S = ROOT.resolve("deploy/kubernetes");
    static final List<String> SERVICES = List.of("encoder-service", "trainer-service", "tokenizer-service");
    static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    /** The base's documents, file by file, as the API types. */
    static List<HasMetadata> baseObjects() throws IOException {
        List<HasMetadata> out = new ArrayList<>();
        JsonNode kustomization =
                yaml().readTree(K8S.resolve("base/kustomization.yaml").toFile());
        for (JsonNode r : kustomization.get("resources")) {
            out.addAll(parse(Files.readString(K8S.resolve("base").resolve(r.asText()))));
        }
        return out;
    }

    static List<HasMetadata> parse(String yamlDocs) {
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : yamlDocs.split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
                continue;
            }
            Object o = SERIALIZATION.unmarshal(new ByteArrayInputStream(doc.getBytes(StandardCharsets.UTF_8)));
            assertTrue(
                    o instanceof HasMetadata,
                    "a Kubernetes object: " + doc.lines().limit(3).toList());
            out.add((HasMetadata) o);
        }
        return out;
    }

    static ObjectMapper yaml() {
        return new ObjectMapper(new YAMLFactory());
    }

    @Test
    void everyDocumentIsAKnownTypeWithNoUnknownField() throws Exception {
        List<HasMetadata> objects = baseObjects();
        Map<String, List<HasMetadata>> rendered = renderedOverlays();
        rendered.values().forEach(objects::addAll);
        List<String> problems = new ArrayList<>();
        for (HasMetadata o : objects) {
            String where = o.getKind() + "/" + o.getMetadata().getName();
            if (o instanceof GenericKubernetesResource) {
                problems.add(where + ": a kind the Kubernetes API does not have");
            }
            unknownFields(o, where, problems, new IdentityHashMap<>());
        }
        assertEquals(List.of(), problems);
        assertTrue(objects.size() >= 12, "read " + objects.size() + " objects");
    }

    /** Fields the model did not know land in additionalProperties: a typo or a field of another API version. */
    static void unknownFields(Object o, String path, List<String> problems, Map<Object, Boolean> seen)
            throws Exception {
        if (o == null || seen.put(o, true) != null) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object x : c) {
                unknownFields(x, path + "[" + i++ + "]", problems, seen);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (var e : m.entrySet()) {
                unknownFields(e.getValue(), path + "." + e.getKey(), problems, seen);
            }
            return;
        }
        if (!(o instanceof KubernetesResource)) {
            return;
        }
        for (Method g : o.getClass().getMethods()) {
            if (g.getParameterCount() != 0 || !g.getName().startsWith("get") || g.getDeclaringClass() == Object.class) {
                continue;
            }
            Object v = g.invoke(o);
            if (g.getName().equals("getAdditionalProperties")) {
                if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    problems.add(path + ": fields unknown to " + o.getClass().getSimpleName() + ": " + extra.keySet());
                }
                continue;
            }
            unknownFields(v, path + "." + g.getName().substring(3), problems, seen);
        }
    }

    /** kubectl kustomize of the base and each overlay, when kubectl is installed; else nothing. */
    static Map<String, List<HasMetadata>> renderedOverlays() throws Exception {
        Map<String, List<HasMetadata>> out = new LinkedHashMap<>();
        for (String dir : List.of("base", "overlays/tls", "overlays/gpu", "workers")) {
            String yaml = kustomize(K8S.resolve(dir));
            if (yaml == null) {
                System.err.println("kubectl not installed: the overlays are not rendered here (CI renders them)");
                return out;
            }
            out.put(dir, parse(yaml));
        }
        return out;
    }

    static String kustomize(Path dir) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder("kubectl", "kustomize", dir.toString())
                    .redirectErrorStream(false)
                    .start();
        } catch (IOException notInstalled) {
            return null;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "kubectl kustomize " + dir + ": " + err);
        return out;
    }

    @Test
    void referencesHold() throws Exception {
        List<HasMetadata> objects = baseObjects();
        Set<String> claims = new HashSet<>();
        Map<String, Map<String, String>> podLabels = new HashMap<>();
        Map<String, PodTemplateSpec> templates = new HashMap<>();
        for (HasMetadata o : objects) {
            if (o instanceof PersistentVolumeClaim c) {
                claims.add(c.getMetadata().getName());
            } else if (o instanceof Deployment d) {
                templates.put(d.getMetadata().getName(), d.getSpec().getTemplate());
                assertEquals(
                        d.getSpec().getSelector().getMatchLabels(),
                        subset(
                                d.getSpec().getTemplate().getMetadata().getLabels(),
                                d.getSpec().getSelector().getMatchLabels().keySet()),
                        d.getMetadata().getName());
            } else if (o instanceof StatefulSet s) {
                templates.put(s.getMetadata().getName(), s.getSpec().getTemplate());
                s.getSpec()
                        .getVolumeClaimTemplates()
                        .forEach(t -> claims.add("template:" + t.getMetadata().getName()));
            }
        }
        templates.forEach((name, t) -> podLabels.put(name, t.getMetadata().getLabels()));
        List<String> problems = new ArrayList<>();
        for (var e : templates.entrySet()) {
            var spec = e.getValue().getSpec();
            Set<String> volumes = new HashSet<>();
            spec.getVolumes().forEach(v -> {
                volumes.add(v.getName());
                if (v.getPersistentVolumeClaim() != null
                        && !claims.contains(v.getPersistentVolumeClaim().getClaimName())) {
                    problems.add(e.getKey() + ": no claim "
                            + v.getPersistentVolumeClaim().getClaimName());
                }
            });
            claims.stream().filter(c -> c.startsWith("template:")).forEach(c -> volumes.add(c.substring(9)));
            for (Container c : spec.getContainers()) {
                assertNotNull(c.getImage(), e.getKey());
                Set<Integer> ports = new HashSet<>();
                c.getPorts().forEach(p -> ports.add(p.getContainerPort()));
                c.getVolumeMounts().stream()
                        .filter(m -> !volumes.contains(m.getName()))
                        .forEach(m -> problems.add(e.getKey() + ": mount of an undeclared volume " + m.getName()));
                for (Probe p : new Probe[] {c.getReadinessProbe(), c.getLivenessProbe()}) {
                    assertNotNull(p, e.getKey() + " has both probes");
                    int port = p.getHttpGet() != null
                            ? p.getHttpGet().getPort().getIntVal()
                            : p.getGrpc().getPort();
                    if (!ports.contains(port)) {
                        problems.add(e.getKey() + ": a probe on port " + port + ", not a container port");
                    }
                }
                assertNotNull(c.getResources().getLimits().get("memory"), e.getKey() + ": a memory limit");
                assertTrue(c.getSecurityContext().getReadOnlyRootFilesystem(), e.getKey() + ": read-only root");
                assertEquals(
                        List.of("ALL"), c.getSecurityContext().getCapabilities().getDrop(), e.getKey());
            }
        }
        for (HasMetadata o : objects) {
            if (o instanceof Service s) {
                boolean selects = podLabels.values().stream()
                        .anyMatch(l -> l.entrySet()
                                .containsAll(s.getSpec().getSelector().entrySet()));
                if (!selects) {
                    problems.add("Service " + s.getMetadata().getName() + " selects no pod");
                }
            }
        }
        assertEquals(List.of(), problems);
    }

    static Map<String, String> subset(Map<String, String> labels, Set<String> keys) {
        Map<String, String> out = new HashMap<>();
        keys.forEach(k -> out.put(k, labels.get(k)));
        return out;
    }

    /** Each service's settings in compose and in the manifests: the same port, memory, health paths, mounts, env. */
    @Test
    void theManifestsCarryTheComposeSettings() throws Exception {
        JsonNode compose =
                yaml().readTree(ROOT.resolve("docker-compose.yml").toFile()).get("services");
        Map<String, Container> containers = new HashMap<>();
        for (HasMetadata o : baseObjects()) {
            PodTemplateSpec t = o instanceof Deployment d
                    ? d.getSpec().getTemplate()
                    : o instanceof StatefulSet s ? s.getSpec().getTemplate() : null;
            if (t != null) {
                containers.put(
                        o.getMetadata().getName(), t.getSpec().getContainers().get(0));
            }
        }
        List<String> problems = new ArrayList<>();
        for (String name : SERVICES) {
            JsonNode svc = compose.get(name);
            Container c = containers.get(name);
            assertNotNull(c, name + " in the manifests");
            // The port and the health path, from compose's healthcheck URL.
            String check = svc.get("healthcheck").get("test").toString();
            Matcher m = Pattern.compile("localhost:(\\d+)(/q/health/\\w+)").matcher(check);
            assertTrue(m.find(), check);
            int port = Integer.parseInt(m.group(1));
            if (c.getPorts().stream().noneMatch(p -> p.getContainerPort() == port)) {
                problems.add(name + ": compose serves port " + port + ", the manifest " + c.getPorts());
            }
            Set<String> paths = new TreeSet<>();
            for (Probe p : new Probe[] {c.getReadinessProbe(), c.getLivenessProbe()}) {
                if (p.getHttpGet() != null) {
                    paths.add(p.getHttpGet().getPath());
                }
            }
            if (!paths.contains(m.group(2))) {
                problems.add(name + ": compose checks " + m.group(2) + ", the manifest's probes " + paths);
            }
            // Memory: compose's default limit ("3g") is the manifest's limit ("3Gi").
            String limit = svc.get("mem_limit").asText().replaceAll(".*:-(\\w+)}", "$1");
            Quantity k8s = c.getResources().getLimits().get("memory");
            if (Quantity.getAmountInBytes(k8s).compareTo(bytes(limit)) != 0) {
                problems.add(name + ": memory limit " + limit + " in compose, " + k8s + " in the manifest");
            }
            // Volume paths, but the token files' (a Secret's values in the environment here).
            Set<String> composeMounts = new TreeSet<>();
            svc.get("volumes").forEach(v -> {
                String path = v.asText().split(":")[1];
                if (!path.equals("/deployments/auth") && !path.equals("/deployments/metrics-auth")) {
                    composeMounts.add(path);
                }
            });
            Set<String> k8sMounts = new TreeSet<>();
            c.getVolumeMounts().forEach(v -> {
                if (!v.getMountPath().equals("/tmp")) {
                    k8sMounts.add(v.getMountPath());
                }
            });
            if (!composeMounts.equals(k8sMounts)) {
                problems.add(name + ": mounts " + composeMounts + " in compose, " + k8sMounts + " in the manifest");
            }
            // The environment both set, with the same values (compose's defaults).
            Map<String, String> env = new HashMap<>();
            c.getEnv().forEach(e -> env.put(e.getName(), e.getValue()));
            for (String key : List.of(
                    "DJL_OFFLINE",
                    "SELFSUP_CPU_ISA",
                    "SELFSUP_DATA_ROOT",
                    "SELFSUP_VAR_DIR",
                    "SELFSUP_ENCODER_MODEL_DIR",
                    "MALLOC_ARENA_MAX")) {
                String composeValue = composeEnv(svc, key);
                if (composeValue != null && !composeValue.equals(env.get(key))) {
                    problems.add(name + ": " + key + "=" + composeValue + " in compose, " + env.get(key)
                            + " in the manifest");
                }
            }
        }
        assertEquals(List.of(), problems);
        assertFalse(containers.isEmpty());
    }

    /**
     * The worker examples (the Indexed Job and the compose override) run the job file they mount, with as many ranks
     * as it asks for, and set only the variables WorkerMain reads.
     */
    @Test
    void theWorkerExamplesRunTheirJobWithItsRanks() throws Exception {
        Path dir = K8S.resolve("workers");
        int workers = new ObjectMapper()
                .readTree(dir.resolve("job.json").toFile())
                .path("training")
                .path("workers")
                .asInt();
        assertTrue(workers > 1, "job.json asks for workers");
        String main = Files.readString(ROOT.resolve("core/src/main/java/dev/selfsup/core/workers/WorkerMain.java"));
        List<HasMetadata> objects = parse(Files.readString(dir.resolve("workers.yaml")));
        io.fabric8.kubernetes.api.model.batch.v1.Job job = objects.stream()
                .filter(o -> o instanceof io.fabric8.kubernetes.api.model.batch.v1.Job)
                .map(o -> (io.fabric8.kubernetes.api.model.batch.v1.Job) o)
                .findFirst()
                .orElseThrow();
        assertEquals("Indexed", job.getSpec().getCompletionMode());
        assertEquals(workers, job.getSpec().getCompletions(), "completions = the job's workers");
        assertEquals(workers, job.getSpec().getParallelism(), "every rank at once");
        Container c = job.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertEquals(
                "dev.selfsup.core.workers.WorkerMain",
                c.getCommand().get(c.getCommand().size() - 1));
        for (var e : c.getEnv()) {
            if (e.getName().startsWith("SELFSUP_")) {
                assertTrue(main.contains("\"" + e.getName() + "\""), e.getName() + " is not read by WorkerMain");
            }
        }
        String jobPath = c.getEnv().stream()
                .filter(e -> e.getName().equals("SELFSUP_WORKER_JOB"))
                .findFirst()
                .orElseThrow()
                .getValue();
        assertTrue(
                c.getVolumeMounts().stream().anyMatch(m -> jobPath.startsWith(m.getMountPath() + "/")),
                "the job file's folder is mounted");

        JsonNode compose =
                yaml().readTree(ROOT.resolve("docker-compose.workers.yml").toFile());
        Set<String> ranks = new TreeSet<>();
        compose.get("services").fields().forEachRemaining(e -> {
            String rank = composeEnv(e.getValue(), "SELFSUP_WORKER_RANK");
            ranks.add(rank);
            e.getValue().get("environment").fieldNames().forEachRemaining(k -> {
                if (k.startsWith("SELFSUP_")) {
                    assertTrue(main.contains("\"" + k + "\""), k + " is not read by WorkerMain");
                }
            });
        });
        Set<String> expected = new TreeSet<>();
        for (int r = 0; r < workers; r++) {
            expected.add(Integer.toString(r));
        }
        assertEquals(expected, ranks, "one compose service per rank of the job");
    }

    static String composeEnv(JsonNode svc, String key) {
        JsonNode env = svc.get("environment");
        JsonNode v = env == null ? null : env.get(key);
        if (v == null && env != null && env.get("<<") != null) {
            v = env.get("<<").get(key); // the shared anchor's values (x-libtorch-env), merged in
        }
        if (v == null) {
            return null;
        }
        return v.asText().replaceAll("\\$\\{\\w+:-([^}]*)}", "$1");
    }

    static java.math.BigDecimal bytes(String composeSize) {
        Matcher m = Pattern.compile("(\\d+)([kmg])").matcher(composeSize.toLowerCase());
        assertTrue(m.matches(), composeSize);
        long unit = switch (m.group(2)) {
            case "k" -> 1L << 10;
            case "m" -> 1L << 20;
            default -> 1L << 30;
        };
        return java.math.BigDecimal.valueOf(Long.parseLong(m.group(1)) * unit);
    }
}
