package dev.selfsup.bench;

import dev.selfsup.client.ClientSecurity;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.TokenizeRequest;
import dev.selfsup.proto.v1.TokenizeResponse;
import dev.selfsup.proto.v1.TokenizerEvent;
import dev.selfsup.proto.v1.TokenizerKind;
import dev.selfsup.proto.v1.TokenizerServiceGrpc;
import dev.selfsup.proto.v1.TokenizerSpec;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * A tokenizer-service end to end, as a client would use it: trains a small vector-quantized tokenizer on
 * Fashion-MNIST (streamed progress), then tokenizes images with it and checks the grids. The compose smoke test
 * runs it, so that the dashboard's tokenizer panels have data.
 */
@Command(name = "tokenizer-check", mixinStandardHelpOptions = true)
public final class TokenizerCheck implements Callable<Integer> {
    @Option(names = "--tokenizer-service", required = true, description = "host:port")
    String address;

    @Option(names = "--name", defaultValue = "smoke")
    String name;

    @Option(names = "--steps", defaultValue = "40", description = "training steps")
    long steps;

    @Option(names = "--token-file", description = "the services' token file")
    Path tokenFile;

    public static void main(String[] args) {
        System.exit(new CommandLine(new TokenizerCheck()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        ManagedChannel ch = ClientSecurity.resolve(null, tokenFile, null, null, null, System.getenv())
                .open(address);
        try {
            var stub = TokenizerServiceGrpc.newBlockingStub(ch);
            Iterator<TokenizerEvent> events = stub.withDeadlineAfter(10, TimeUnit.MINUTES)
                    .trainTokenizer(TokenizerSpec.newBuilder()
                            .setName(name)
                            .setKind(TokenizerKind.TOKENIZER_KIND_VQ)
                            .setDataset(DatasetRef.newBuilder().setPath("fashion-mnist"))
                            .setSteps(steps)
                            .setVocabularySize(64)
                            .build());
            long progress = 0;
            boolean done = false;
            while (events.hasNext()) {
                TokenizerEvent e = events.next();
                progress += e.hasProgress() ? 1 : 0;
                done |= e.hasDone();
            }
            TokenizeRequest.Builder r = TokenizeRequest.newBuilder().setTokenizer(name);
            for (int i = 0; i < 8; i++) {
                byte[] px = new byte[28 * 28];
                for (int k = 0; k < px.length; k++) {
                    px[k] = (byte) ((k * 7 + i * 31) & 0xff);
                }
                r.addImages(RawImages.of(28, 28, 1, px, 0, px.length));
            }
            TokenizeResponse t = stub.withDeadlineAfter(60, TimeUnit.SECONDS).tokenize(r.build());
            boolean ok = done && t.getGridsCount() == 8 && t.getGrids(0).getIdsCount() > 0;
            System.out.printf(
                    "%s: tokenizer %s trained (%d progress events), 8 images tokenized into grids of %d tokens%n",
                    ok ? "OK" : "FAIL",
                    name,
                    progress,
                    t.getGridsCount() > 0 ? t.getGrids(0).getIdsCount() : 0);
            return ok ? 0 : 1;
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
