package dev.selfsup.bench;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.client.TokenFile;
import dev.selfsup.core.data.FashionMnist;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.io.Json;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.PretrainListener;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.proto.Roles;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DevicePreference;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import dev.selfsup.proto.v1.WatchRunRequest;
import io.grpc.ManagedChannel;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The same SimCLR pretraining on Fashion-MNIST in-process (core's Pretrainer) and through the packaged
 * trainer-service (a separate JVM, driven over gRPC), alternated A-B-A-B so drift on a shared machine hits both.
 * Throughput is the median of the progress intervals' images/second after the first two, measured the same way
 * in both. Prints one JSON line. Usage: TrainerOverheadBench [steps] [rounds]
 */
public final class TrainerOverheadBench {
    public static void main(String[] args) throws Exception {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        Path jar = Path.of(
                System.getProperty("selfsup.trainer.jar", "trainer-service/target/quarkus-app/quarkus-run.jar"));
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " not found: build with ./mvnw package -DskipTests");
        }
        ImageDataset train = FashionMnist.train(FashionMnist.DEFAULT_DIR).withoutLabels();
        List<Double> inProcess = new ArrayList<>();
        List<Double> service = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            inProcess.add(inProcess(train, steps));
            service.add(viaService(jar, steps));
            System.err.printf(
                    "round %d: in-process %.1f img/s, service %.1f img/s%n", r, inProcess.get(r), service.get(r));
        }
        double a = inProcess.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        double b = service.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("steps", steps);
        out.put("rounds", rounds);
        out.put("in_process_images_per_second", Math.round(a * 10) / 10.0);
        out.put("service_images_per_second", Math.round(b * 10) / 10.0);
        out.put("service_overhead_fraction", Math.round((1 - b / a) * 10000) / 10000.0);
        System.out.println(Json.write(out));
    }

    static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v.subList(Math.min(2, v.size() - 1), v.size()));
        s.sort(Double::compare);
        return s.get(s.size() / 2);
    }

    static double inProcess(ImageDataset train, int steps) throws Exception {
        PretrainConfig c = PretrainConfig.defaults("simclr").toBuilder()
                .steps(steps)
                .device("cpu")
                .logEverySteps(10)
                .build();
        float[][] st = Pretrainer.channelStats(train);
        List<Double> ips = new ArrayList<>();
        try (Pretrainer t = new Pretrainer(c, train, st[0], st[1])) {
            t.addListener(new PretrainListener() {
                @Override
                public void onProgress(Progress p) {
                    ips.add(p.imagesPerSecond());
                }
            });
            t.run();
        }
        return median(ips);
    }

    static double viaService(Path jar, int steps) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path var = Files.createTempDirectory("selfsup-overhead");
        // The service this bench starts accepts one operator token, made here.
        String token = TokenFile.newToken(Roles.OPERATOR);
        ServiceProcess p = ServiceProcess.start(
                jar,
                List.of(
                        "-Xmx4g",
                        "-Dquarkus.http.port=" + port,
                        "-Dselfsup.var-dir=" + var,
                        "-Dselfsup.device=cpu",
                        "-Dselfsup.auth.operator-tokens=" + token),
                Map.of(),
                var.resolve("service.log"));
        ManagedChannel ch = ClientSecurity.token(token).open("localhost:" + port);
        try {
            p.awaitServing(ch);
            var stub = TrainerServiceGrpc.newBlockingStub(ch);
            String id = stub.startRun(RunSpec.newBuilder()
                            .setMethod(Method.METHOD_SIMCLR)
                            .setDataset(DatasetRef.newBuilder().setPath("fashion-mnist"))
                            .setSteps(steps)
                            .setDevice(DevicePreference.DEVICE_PREFERENCE_CPU)
                            .build())
                    .getRunId();
            List<Double> ips = new ArrayList<>();
            Iterator<RunEvent> events =
                    stub.watchRun(WatchRunRequest.newBuilder().setRunId(id).build());
            while (events.hasNext()) {
                RunEvent e = events.next();
                if (e.hasProgress()) {
                    ips.add(e.getProgress().getImagesPerSecond());
                }
            }
            return median(ips);
        } finally {
            ch.shutdownNow();
            p.close();
        }
    }
}
