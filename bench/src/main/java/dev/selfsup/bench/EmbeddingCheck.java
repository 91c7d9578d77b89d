package dev.selfsup.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.core.data.FashionMnist;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EmbedResponse;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import io.grpc.ManagedChannel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Checks that a served model answers what the same encoder bundle computes in this process: Fashion-MNIST test
 * images embedded through the encoder-service (or its proxy) several times, so that every replica answers, and
 * in-process. Prints the largest difference and exits 1 if it is above the tolerance. The compose smoke test runs
 * it against the suite's proxy.
 */
@Command(name = "embedding-check", mixinStandardHelpOptions = true)
public final class EmbeddingCheck implements Callable<Integer> {
    @Option(names = "--encoder", required = true, description = "encoder-service (or proxy) host:port")
    String encoder;

    @Option(names = "--model", required = true, description = "the served model")
    String model;

    @Option(names = "--bundle", required = true, description = "the same encoder's bundle (selfsup export)")
    Path bundle;

    @Option(names = "--images", defaultValue = "5", description = "test images per call")
    int images;

    @Option(names = "--calls", defaultValue = "6", description = "calls (the proxy spreads them over replicas)")
    int calls;

    @Option(names = "--tolerance", defaultValue = "1e-5", description = "largest allowed absolute difference")
    double tolerance;

    @Option(names = "--token-file", description = "the services' token file")
    Path tokenFile;

    @Option(names = "--dataset", defaultValue = "/usr/share/datasets/fashion-mnist")
    Path dataset;

    public static void main(String[] args) {
        System.exit(new CommandLine(new EmbeddingCheck()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        ImageDataset test = FashionMnist.test(dataset).head(images);
        int c = test.channels();
        int h = test.height();
        int w = test.width();
        ByteBuffer all = ByteBuffer.allocate(images * test.imageBytes());
        int[] order = new int[images];
        for (int i = 0; i < images; i++) {
            order[i] = i;
        }
        test.copyImages(order, 0, images, all);
        byte[] px = all.array();
        EmbedRequest.Builder request = EmbedRequest.newBuilder().setModel(model);
        for (int i = 0; i < images; i++) {
            request.addImages(RawImages.of(h, w, c, px, i * test.imageBytes(), test.imageBytes()));
        }
        float[] expected;
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            GradMode.disableOnThisThread();
            EncoderBundle.Loaded loaded = EncoderBundle.read(Files.newInputStream(bundle), "check", m);
            float[] x = new float[px.length];
            for (int i = 0; i < px.length; i++) {
                x[i] = (px[i] & 0xff) / 255f;
            }
            NDArray e = EncoderBundle.embed(loaded.encoder(), m.create(x, new Shape(images, c, h, w)));
            expected = e.toFloatArray();
        }
        ClientSecurity who = ClientSecurity.resolve(null, tokenFile, null, null, null, System.getenv());
        ManagedChannel ch = who.open(encoder);
        double worst = 0;
        Set<Integer> versions = new HashSet<>();
        try {
            var stub = EncoderServiceGrpc.newBlockingStub(ch);
            for (int k = 0; k < calls; k++) {
                EmbedResponse r = stub.withDeadlineAfter(60, TimeUnit.SECONDS).embed(request.build());
                versions.add(r.getVersion());
                int j = 0;
                for (var emb : r.getEmbeddingsList()) {
                    for (int v = 0; v < emb.getValuesCount(); v++) {
                        worst = Math.max(worst, Math.abs(emb.getValues(v) - expected[j++]));
                    }
                }
                if (j != expected.length) {
                    System.out.printf("FAIL: %d values served, %d computed in-process%n", j, expected.length);
                    return 1;
                }
            }
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        boolean ok = worst <= tolerance;
        System.out.printf(
                "%s: %d calls of %d images through %s, model %s v%s: largest difference to in-process %.2e (limit %.0e)%n",
                ok ? "OK" : "FAIL", calls, images, encoder, model, versions, worst, tolerance);
        return ok ? 0 : 1;
    }
}
