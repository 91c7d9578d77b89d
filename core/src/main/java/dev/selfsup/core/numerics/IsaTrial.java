package dev.selfsup.core.numerics;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides by measurement whether oneDNN may use every instruction set of this CPU (the {@code auto} policy of
 * {@link CpuIsaGuard}). oneDNN fixes its instruction set once per process, so each candidate runs in a child JVM of
 * its own: the full numerics self-check, then a short training run (a small ConvNet, batch norm, 20 SGD steps on
 * seeded data) done twice. The widest set is taken only if its check passed, its two runs agree bit for bit, every
 * loss is finite, and its losses agree with the AVX2 child's within {@value #LOSS_TOLERANCE} (relative): the fault
 * seen on a Zen 5 CPU (NaN losses within 30 steps, runs that differ) fails all of those. Otherwise the cap is AVX2.
 *
 * <p>The verdict is kept in a small file per CPU and libtorch build ({@code selfsup.cpu.isa.cache-dir}, else
 * {@code SELFSUP_CPU_ISA_CACHE}, else {@code ~/.cache/selfsup}), so the probe (about 10 s) runs once per machine.
 * A CPU without AVX-512 is not probed: AVX2 is then all it has.
 */
public final class IsaTrial {
    private static final Logger LOG = LoggerFactory.getLogger(IsaTrial.class);

    /** The largest relative difference between the two instruction sets' losses at any step. */
    static final double LOSS_TOLERANCE = 1e-3;
    /** Training steps of the check. */
    static final int STEPS = 20;
    /** A child that takes longer than this has failed. */
    static final long CHILD_SECONDS = 180;
    /** oneDNN's name for "no cap". */
    static final String NO_CAP = "ALL";
    /**
     * A property for tests: the child with this cap adds this much to every loss it reports, as a CPU that computed
     * wrongly would; the verdict must then refuse it.
     */
    static final String FAULT_PROPERTY = "selfsup.cpu.isa.probe.fault";

    private static final String CHILD_ARG = "--child";

    /**
     * The verdict: the cap to use, and why.
     *
     * @param cap "none" (every instruction set) or {@link CpuIsaGuard#SAFE_CAP}
     * @param reason what was measured, for logs and health
     * @param cached whether it was read from the cache rather than measured now
     */
    public record Verdict(String cap, String reason, boolean cached) {}

    private IsaTrial() {}

    /** The verdict for this CPU: from the cache, or measured now (and cached). */
    static Verdict decide(Map<String, String> fault) {
        CpuInfo cpu = CpuInfo.current();
        if (!cpu.hasAvx512()) {
            return new Verdict(CpuIsaGuard.SAFE_CAP, "no AVX-512 on " + cpu.describe() + ": AVX2 is the widest", false);
        }
        Path file = cacheDir().resolve("cpu-isa-" + key(cpu) + ".properties");
        if (fault.isEmpty()) {
            Verdict cached = read(file);
            if (cached != null) {
                return cached;
            }
        }
        Verdict v = measure(cpu, fault);
        if (fault.isEmpty()) {
            write(file, v, cpu);
        }
        return v;
    }

    /** Runs both children and compares them. */
    static Verdict measure(CpuInfo cpu, Map<String, String> fault) {
        long start = System.nanoTime();
        ChildResult wide = child(NO_CAP, fault.get(NO_CAP));
        ChildResult safe = child(CpuIsaGuard.SAFE_CAP, fault.get(CpuIsaGuard.SAFE_CAP));
        String seconds = String.format("%.1f s", (System.nanoTime() - start) / 1e9);
        String problem = compare(wide, safe);
        if (problem == null) {
            return new Verdict(
                    "none",
                    "every instruction set of " + cpu.describe() + " passed the check (" + STEPS
                            + " training steps equal to AVX2's within " + LOSS_TOLERANCE + ", reproducible; "
                            + seconds + ")",
                    false);
        }
        LOG.warn("oneDNN stays capped at AVX2 on {}: {}", cpu.describe(), problem);
        return new Verdict(CpuIsaGuard.SAFE_CAP, "AVX-512 refused: " + problem + " (" + seconds + ")", false);
    }

    /** Why the wide child may not be used, or null if it may. */
    static String compare(ChildResult wide, ChildResult safe) {
        if (wide.error() != null) {
            return "the check with every instruction set failed: " + wide.error();
        }
        if (safe.error() != null) {
            return "the AVX2 reference failed: " + safe.error();
        }
        double[] a = wide.losses();
        double[] b = safe.losses();
        for (int i = 0; i < a.length; i++) {
            if (!Double.isFinite(a[i])) {
                return "loss at step " + i + " is " + a[i];
            }
            double rel = Math.abs(a[i] - b[i]) / Math.max(1e-12, Math.abs(b[i]));
            if (rel > LOSS_TOLERANCE) {
                return String.format(
                        "loss at step %d is %.6f, against %.6f with AVX2 (relative difference %.2e)",
                        i, a[i], b[i], rel);
            }
        }
        return null;
    }

    /**
     * What a child measured.
     *
     * @param losses the training losses, when it got that far
     * @param error why it failed, or null
     */
    record ChildResult(double[] losses, String error) {}

    private static ChildResult child(String cap, String fault) {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m",
                "-Dai.djl.offline=true",
                "-cp",
                childClassPath()));
        if (fault != null) {
            cmd.add("-D" + FAULT_PROPERTY + "=" + fault);
        }
        cmd.addAll(List.of(IsaTrial.class.getName(), CHILD_ARG));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put(CpuIsaGuard.ONEDNN_VARIABLE, cap);
        pb.environment().put("DJL_OFFLINE", "true");
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            String out;
            try (var in = p.getInputStream()) {
                out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(CHILD_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new ChildResult(null, "no answer within " + CHILD_SECONDS + " s");
            }
            for (String line : out.lines().toList()) {
                if (line.startsWith("losses ")) {
                    String[] f = line.substring(7).trim().split(" ");
                    double[] losses = new double[f.length];
                    for (int i = 0; i < f.length; i++) {
                        losses[i] = Double.parseDouble(f[i]);
                    }
                    return new ChildResult(losses, null);
                }
                if (line.startsWith("failed ")) {
                    return new ChildResult(null, line.substring(7));
                }
            }
            return new ChildResult(null, "it ended (exit " + p.exitValue() + ") without a result");
        } catch (IOException e) {
            return new ChildResult(null, "could not start: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new ChildResult(null, "interrupted");
        }
    }

    /**
     * The child: the cap is in its environment already. Prints "losses ..." or "failed ...". Not for direct use.
     */
    public static void main(String[] args) {
        if (args.length != 1 || !CHILD_ARG.equals(args[0])) {
            System.err.println("IsaTrial runs as a child of CpuIsaGuard's auto policy");
            System.exit(2);
        }
        try {
            NumericsReport report = NumericsSelfCheck.run(NumericsSelfCheck.Suite.FULL);
            if (!report.passed()) {
                System.out.println("failed the numerics self-check: " + report.summary());
                return;
            }
            double[] first = train();
            double[] second = train();
            for (int i = 0; i < STEPS; i++) {
                if (Double.doubleToLongBits(first[i]) != Double.doubleToLongBits(second[i])) {
                    System.out.println("failed: two identical runs differ at step " + i + " (" + first[i] + ", "
                            + second[i] + ")");
                    return;
                }
            }
            double fault = Double.parseDouble(System.getProperty(FAULT_PROPERTY, "0"));
            StringBuilder sb = new StringBuilder("losses");
            for (double l : first) {
                sb.append(' ').append(l + fault);
            }
            System.out.println(sb);
        } catch (RuntimeException e) {
            System.out.println("failed: " + e.getMessage());
        }
    }

    /** 20 SGD steps of a small ConvNet with batch norm on seeded data; the loss of each step. */
    static double[] train() {
        CpuIsaGuard.apply();
        Engine.getInstance().setRandomSeed(7);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            SequentialBlock net = new SequentialBlock()
                    .add(Conv2d.builder()
                            .setFilters(16)
                            .setKernelShape(new Shape(3, 3))
                            .optPadding(new Shape(1, 1))
                            .build())
                    .add(BatchNorm.builder().build())
                    .add(Activation.reluBlock())
                    .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                    .add(Conv2d.builder()
                            .setFilters(32)
                            .setKernelShape(new Shape(3, 3))
                            .optPadding(new Shape(1, 1))
                            .build())
                    .add(BatchNorm.builder().build())
                    .add(Activation.reluBlock())
                    .add(Pool.globalAvgPool2dBlock())
                    .add(Linear.builder().setUnits(10).build());
            Random r = new Random(11);
            float[] pixels = new float[64 * 28 * 28];
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] = (float) r.nextGaussian();
            }
            float[] labels = new float[64];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = r.nextInt(10);
            }
            NDArray x = m.create(pixels, new Shape(64, 1, 28, 28));
            NDArray y = m.create(labels, new Shape(64, 1)).toType(DataType.INT64, false);
            net.initialize(m, DataType.FLOAT32, x.getShape());
            // Outside any gradient recording, so a Java-held number is safe here (see engine.Scalars).
            NDArray lr = m.create(0.1f);
            ParameterStore ps = new ParameterStore(m, false);
            double[] losses = new double[STEPS];
            for (int step = 0; step < STEPS; step++) {
                try (NDManager stepManager = m.newSubManager();
                        GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray logits = net.forward(ps, new NDList(x), true).singletonOrThrow();
                    NDArray loss = logits.logSoftmax(1).gather(y, 1).mean().neg();
                    stepManager.tempAttachAll(loss, logits);
                    gc.backward(loss);
                    losses[step] = loss.getFloat();
                }
                for (var p : net.getParameters()) {
                    Parameter param = p.getValue();
                    if (param.requiresGradient()) {
                        NDArray w = param.getArray();
                        w.subi(w.getGradient().mul(lr));
                        w.getGradient().subi(w.getGradient());
                    }
                }
            }
            return losses;
        }
    }

    /**
     * This JVM's class path, plus every jar beside this class's own jar when that jar is not on it: a Quarkus
     * fast-jar names only its runner on the class path, and keeps the libraries in one folder.
     */
    static String childClassPath() {
        String cp = System.getProperty("java.class.path");
        try {
            Path own = Path.of(IsaTrial.class
                    .getProtectionDomain()
                    .getCodeSource()
                    .getLocation()
                    .toURI());
            if (!cp.contains(own.toString()) && Files.isRegularFile(own)) {
                cp = own.getParent().resolve("*") + java.io.File.pathSeparator + cp;
            }
        } catch (java.net.URISyntaxException | RuntimeException e) {
            LOG.debug("no code source for the probe's class path: {}", e.toString());
        }
        return cp;
    }

    private static Path cacheDir() {
        String configured = System.getProperty("selfsup.cpu.isa.cache-dir", System.getenv("SELFSUP_CPU_ISA_CACHE"));
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "selfsup");
    }

    /** A file name part for this CPU and this libtorch build. */
    private static String key(CpuInfo cpu) {
        String natives = List.of(System.getProperty("java.class.path").split(java.io.File.pathSeparator)).stream()
                .map(e -> Path.of(e).getFileName())
                .filter(n -> n != null && n.toString().startsWith("pytorch-native"))
                .map(Path::toString)
                .sorted()
                .collect(Collectors.joining(","));
        String text = cpu.model() + "|" + cpu.family() + "|" + cpu.modelNumber() + "|"
                + cpu.flags().stream().sorted().collect(Collectors.joining(",")) + "|" + natives;
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Verdict read(Path file) {
        try {
            Properties p = new Properties();
            try (var in = Files.newInputStream(file)) {
                p.load(in);
            }
            String cap = p.getProperty("cap");
            String reason = p.getProperty("reason");
            if (cap == null || reason == null) {
                return null;
            }
            return new Verdict(cap, reason + " (measured " + p.getProperty("measured", "earlier") + ")", true);
        } catch (IOException e) {
            return null;
        }
    }

    private static void write(Path file, Verdict v, CpuInfo cpu) {
        try {
            Files.createDirectories(file.getParent());
            Properties p = new Properties();
            p.setProperty("cap", v.cap());
            p.setProperty("reason", v.reason());
            p.setProperty("cpu", cpu.describe());
            p.setProperty("measured", Instant.now().toString());
            Path tmp = Files.createTempFile(file.getParent(), "cpu-isa", ".tmp");
            try (var out = Files.newOutputStream(tmp)) {
                p.store(out, "selfsup: oneDNN instruction-set verdict for this CPU (delete to measure again)");
            }
            Files.move(
                    tmp,
                    file,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.warn("The CPU verdict could not be cached ({}); it will be measured again next start", e.getMessage());
        }
    }
}
