package dev.selfsup.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import com.fasterxml.jackson.databind.JsonNode;
import dev.selfsup.core.data.DatasetLoader;
import dev.selfsup.core.data.DatasetSource;
import dev.selfsup.core.data.FashionMnist;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.data.ReadOptions;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.model.Backbones;
import dev.selfsup.core.numerics.CpuInfo;
import dev.selfsup.core.parallel.Rendezvous;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.core.workers.LocalWorkers;
import dev.selfsup.core.workers.WorkerJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Images per second of one run trained by 1, 2 and 4 worker processes on this machine (each rank a JVM started by
 * {@link LocalWorkers}, libtorch's threads shared out equally), alternated round by round, with the share of a
 * step rank 0 spent in collectives and the bytes it handed to them; then, on paper, the bytes a step all-reduces
 * for each backbone and what they cost on real networks. Prints one JSON line.
 *
 * <p>Usage: WorkerScalingBench [--workers 1,2,4] [--steps 60] [--rounds 2] [--method simclr] [--batch-size 256]
 */
public final class WorkerScalingBench {
    public static void main(String[] args) throws Exception {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        int[] counts = Arrays.stream(o.getOrDefault("workers", "1,2,4").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim()))
                .toArray();
        int steps = Integer.parseInt(o.getOrDefault("steps", "60"));
        int rounds = Integer.parseInt(o.getOrDefault("rounds", "2"));
        String method = o.getOrDefault("method", "simclr");
        int batch = Integer.parseInt(o.getOrDefault("batch-size", "256"));
        Path data = FashionMnist.DEFAULT_DIR;
        DatasetSource source =
                new DatasetSource(data, DatasetLoader.Format.IDX, "train", 1, 28, 0, ReadOptions.DEFAULT);
        ImageDataset train = source.open();
        float[][] st = Pretrainer.channelStats(train);
        Path work = Files.createTempDirectory("selfsup-worker-bench");
        int cores = Runtime.getRuntime().availableProcessors();

        Map<Integer, List<Map<String, Double>>> results = new LinkedHashMap<>();
        for (int r = 0; r < rounds; r++) {
            for (int n : counts) {
                PretrainConfig c = PretrainConfig.defaults(method).toBuilder()
                        .steps(steps)
                        .batchSize(batch)
                        .workers(n)
                        .batchNorm("per-device")
                        .device("cpu")
                        .logEverySteps(10)
                        .build();
                String attempt = "n" + n + "-r" + r;
                Path job = work.resolve(attempt + ".json");
                WorkerJob.of(c, source, st[0], st[1], Rendezvous.folder(work.resolve("store"), attempt), 120, 60)
                        .write(job);
                int threads = Math.max(1, cores / n);
                Path logs = work.resolve(attempt);
                try (LocalWorkers w = LocalWorkers.start(job, 0, n, threads, logs)) {
                    if (!w.awaitEnd(3600) || w.failure() != null) {
                        throw new IllegalStateException(attempt + ": " + w.failure());
                    }
                }
                Map<String, Double> m = measure(logs.resolve("worker-0.log"));
                results.computeIfAbsent(n, k -> new ArrayList<>()).add(m);
                System.err.printf("round %d, %d worker(s), %d thread(s) each: %s%n", r, n, threads, m);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("cpu", CpuInfo.current().describe());
        out.put("cores", cores);
        out.put("method", method);
        out.put("batch_size", batch);
        out.put("steps", steps);
        out.put("rounds", rounds);
        double base = mean(results.get(counts[0]), "images_per_second");
        Map<String, Object> per = new LinkedHashMap<>();
        for (int n : counts) {
            List<Map<String, Double>> l = results.get(n);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put(
                    "images_per_second",
                    l.stream().map(x -> round(x.get("images_per_second"))).toList());
            row.put("relative_to_" + counts[0], round(mean(l, "images_per_second") / base));
            if (n > 1) {
                row.put("collective_share_of_step", round(mean(l, "collective_share")));
                row.put("collective_mb_per_step", round(mean(l, "collective_mb_per_step")));
            }
            per.put(Integer.toString(n), row);
        }
        out.put("workers", per);
        out.put("all_reduce_per_step_on_paper", onPaper());
        System.out.println(Json.write(out));
    }

    /** Rank 0's progress reports after the first (JVM warm-up): median images/s, mean collective figures. */
    private static Map<String, Double> measure(Path log) throws Exception {
        List<Double> ips = new ArrayList<>();
        List<Double> share = new ArrayList<>();
        List<Double> mb = new ArrayList<>();
        boolean first = true;
        for (String line : Files.readAllLines(log)) {
            if (!line.startsWith("{") || !line.contains("\"images_per_second\"")) {
                continue;
            }
            if (first) {
                first = false;
                continue;
            }
            JsonNode n = Json.MAPPER.readTree(line);
            ips.add(n.path("images_per_second").asDouble());
            share.add(n.path("metrics").path("worker_collective_share").asDouble(0));
            mb.add(n.path("metrics").path("worker_collective_mb_per_step").asDouble(0));
        }
        if (ips.isEmpty()) {
            throw new IllegalStateException(log + ": no progress after the first report; run more steps");
        }
        ips.sort(Double::compare);
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("images_per_second", ips.get(ips.size() / 2));
        m.put(
                "collective_share",
                share.stream().mapToDouble(Double::doubleValue).average().orElse(0));
        m.put(
                "collective_mb_per_step",
                mb.stream().mapToDouble(Double::doubleValue).average().orElse(0));
        return m;
    }

    /**
     * Per backbone at its default width on 32 px RGB images: the float32 gradients a step all-reduces, and the
     * seconds a ring all-reduce moves them in on 1, 10 and 25 Gbit/s links (each rank sends and receives 2 (N-1)/N
     * times the gradients; N = 8 here), before any overlap with the backward pass.
     */
    private static Map<String, Object> onPaper() {
        Map<String, Object> out = new LinkedHashMap<>();
        float[] mean = {0.5f, 0.5f, 0.5f};
        float[] std = {0.25f, 0.25f, 0.25f};
        for (String type : BackboneSpec.TYPES) {
            BackboneSpec spec = new BackboneSpec(
                    type, BackboneSpec.defaultWidth(type), BackboneSpec.defaultDepth(type), 3, 32, mean, std);
            long params = 0;
            try (NDManager m = NDManager.newBaseManager()) {
                Block b = Backbones.build(spec);
                b.initialize(m, DataType.FLOAT32, new Shape(2, 3, 32, 32));
                for (var p : b.getParameters()) {
                    if (p.getValue().requiresGradient()) {
                        params += p.getValue().getArray().size();
                    }
                }
            }
            double bytes = 4.0 * params;
            double ring = 2.0 * 7 / 8 * bytes;
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("trainable_parameters", params);
            row.put("gradient_mb", round(bytes / 1e6));
            row.put("seconds_1gbit", round(ring * 8 / 1e9));
            row.put("seconds_10gbit", round(ring * 8 / 10e9));
            row.put("seconds_25gbit", round(ring * 8 / 25e9));
            out.put(type, row);
        }
        return out;
    }

    private static double mean(List<Map<String, Double>> l, String key) {
        return l.stream().mapToDouble(m -> m.get(key)).average().orElse(Double.NaN);
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
