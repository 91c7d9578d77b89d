package dev.selfsup.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.util.cuda.CudaUtils;
import dev.selfsup.core.data.CifarBinaryReader;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.EngineInfo;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.numerics.CpuInfo;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.PretrainResult;
import dev.selfsup.core.train.Pretrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The GPU smoke test: checks which GPUs the engine sees, trains SimCLR with ResNet-18 on 32 px images (CIFAR-10 when
 * its binary files are given, else generated pictures) for a fixed number of steps on one device and then on all of
 * them (data-parallel, a fixed batch per device), and prints one JSON line: the GPUs, images/s per device count, the
 * scaling efficiency, the peak device memory and the loss after the steps. Without a GPU the same path runs on the CPU
 * with CPU replicas, so the script itself is tested on any machine.
 */
@Command(
        name = "gpu-smoke",
        mixinStandardHelpOptions = true,
        description = "Train SimCLR/ResNet-18 on one GPU, then on all; print one JSON line.")
public final class GpuSmoke implements Callable<Integer> {
    private static final List<String> CIFAR10_CLASSES =
            List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck");

    @Option(names = "--steps", description = "timed steps per run (default: 30 on GPUs, 6 on the CPU)")
    Integer steps;

    @Option(
            names = "--warmup-steps",
            description = "untimed steps first (default: ${DEFAULT-VALUE})",
            defaultValue = "3")
    int warmupSteps;

    @Option(
            names = "--batch-per-device",
            description = "images per device per step (default: 256 on GPUs, 32 on the CPU)")
    Integer batchPerDevice;

    @Option(
            names = "--cpu-replicas",
            description = "without a GPU: replicas of the second run (default: ${DEFAULT-VALUE})",
            defaultValue = "2")
    int cpuReplicas;

    @Option(names = "--cifar", description = "a folder with CIFAR-10's data_batch_1.bin ... data_batch_5.bin")
    Path cifar;

    @Option(names = "--backbone", description = "default: ${DEFAULT-VALUE}", defaultValue = BackboneSpec.RESNET18)
    String backbone;

    public static void main(String[] args) {
        System.exit(new CommandLine(new GpuSmoke()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        System.out.println(Json.write(measure()));
        return 0;
    }

    /** Runs the smoke test and returns its JSON line as a map. */
    Map<String, Object> measure() throws Exception {
        EngineInfo engine = EngineInfo.current("auto");
        int gpus = Engine.getInstance().getGpuCount();
        boolean onGpu = gpus > 0;
        int timed = steps != null ? steps : onGpu ? 30 : 6;
        int perDevice = batchPerDevice != null ? batchPerDevice : onGpu ? 256 : 32;
        List<Integer> counts = new ArrayList<>(List.of(1));
        int most = onGpu ? gpus : cpuReplicas;
        if (most > 1) {
            counts.add(most);
        }
        ImageDataset data = data(perDevice * most * 2);

        Map<String, Object> line = new LinkedHashMap<>();
        line.put("gpus", gpus);
        line.put("device", onGpu ? "gpu" : "cpu");
        line.put("flavor", engine.flavor());
        line.put("cuda", engine.cudaVersion());
        line.put("driver", engine.driverVersion());
        line.put("model", "simclr/" + backbone);
        line.put("data", data.name());
        line.put("image_size", data.height());
        line.put("batch_per_device", perDevice);
        line.put("timed_steps", timed);
        List<Map<String, Object>> runs = new ArrayList<>();
        for (int n : counts) {
            runs.add(run(data, onGpu, n, perDevice, timed));
        }
        line.put("runs", runs);
        if (runs.size() > 1) {
            double one = (double) runs.get(0).get("images_per_second");
            double all = (double) runs.get(runs.size() - 1).get("images_per_second");
            line.put("scaling_efficiency", Math.round(all / (most * one) * 1000) / 1000.0);
        }
        line.put("cpu", CpuInfo.current().describe());
        return line;
    }

    private Map<String, Object> run(ImageDataset data, boolean onGpu, int replicas, int perDevice, int timed)
            throws Exception {
        PretrainConfig c = PretrainConfig.defaults("simclr").toBuilder()
                .backboneAtDefaults(backbone)
                .batchSize(perDevice * replicas)
                .steps(warmupSteps + timed)
                .warmupEpochs(0)
                .device(onGpu ? "gpu" : "cpu")
                .replicas(replicas)
                .logEverySteps(1)
                .build();
        float[][] st = Pretrainer.channelStats(data);
        double[] timedSeconds = {0};
        double[] lastLoss = {Double.NaN};
        long[] peakDevice = new long[replicas];
        try (Pretrainer t = new Pretrainer(c, data, st[0], st[1])) {
            List<Device> devices = t.devices();
            t.addListener(new PretrainListener() {
                @Override
                public void onStep(long step, double seconds, double wait, int images) {
                    if (step > warmupSteps) {
                        timedSeconds[0] += seconds;
                    }
                    if (onGpu) {
                        for (int i = 0; i < devices.size(); i++) {
                            peakDevice[i] = Math.max(
                                    peakDevice[i],
                                    CudaUtils.getGpuMemory(devices.get(i)).getUsed());
                        }
                    }
                }

                @Override
                public void onProgress(Progress p) {
                    lastLoss[0] = p.loss();
                }
            });
            PretrainResult r = t.run();
            if (r.status() != PretrainResult.Status.FINISHED) {
                throw new IllegalStateException("the run with " + replicas + " replicas ended " + r.status());
            }
        }
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("replicas", replicas);
        o.put("batch", perDevice * replicas);
        o.put("images_per_second", Math.round(timed * perDevice * replicas / timedSeconds[0] * 10) / 10.0);
        double loss = lastLoss[0];
        o.put("loss", Double.isFinite(loss) ? Math.round(loss * 10000) / 10000.0 : loss);
        if (onGpu) {
            o.put("peak_device_memory_bytes", Arrays.stream(peakDevice).boxed().toList());
        } else {
            o.put("peak_rss_bytes", ProcessMemory.peakRssBytes());
        }
        return o;
    }

    /** CIFAR-10's training files when given, else {@code n} generated 3x32x32 pictures (a coloured square on noise). */
    private ImageDataset data(int n) throws Exception {
        if (cifar != null) {
            List<Path> files = new ArrayList<>();
            for (int i = 1; i <= 5; i++) {
                Path f = cifar.resolve("data_batch_" + i + ".bin");
                if (Files.isRegularFile(f)) {
                    files.add(f);
                }
            }
            if (!files.isEmpty()) {
                return CifarBinaryReader.read("cifar-10", files, CifarBinaryReader.Variant.CIFAR10, CIFAR10_CLASSES);
            }
        }
        int count = Math.max(n, 1024);
        int s = 32;
        byte[] px = new byte[count * 3 * s * s];
        Random r = new Random(5);
        for (int i = 0; i < count; i++) {
            int y0 = r.nextInt(20);
            int x0 = r.nextInt(20);
            int size = 6 + r.nextInt(10);
            for (int ch = 0; ch < 3; ch++) {
                int fg = r.nextInt(256);
                for (int y = 0; y < s; y++) {
                    for (int x = 0; x < s; x++) {
                        boolean on = y >= y0 && y < y0 + size && x >= x0 && x < x0 + size;
                        px[((i * 3 + ch) * s + y) * s + x] = (byte) (on ? fg : r.nextInt(64));
                    }
                }
            }
        }
        return new ImageDataset("generated-32px", px, null, count, 3, s, s, List.of());
    }
}
