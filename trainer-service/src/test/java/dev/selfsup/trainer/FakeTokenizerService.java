package dev.selfsup.trainer;

import dev.selfsup.proto.v1.GetTokenizerRequest;
import dev.selfsup.proto.v1.TokenGrid;
import dev.selfsup.proto.v1.TokenizeRequest;
import dev.selfsup.proto.v1.TokenizeResponse;
import dev.selfsup.proto.v1.TokenizerInfo;
import dev.selfsup.proto.v1.TokenizerKind;
import dev.selfsup.proto.v1.TokenizerServiceGrpc;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A stand-in tokenizer-service for the trainer's BEiT tests. "tiny-tok" cuts 16 px grayscale images into a 4x4
 * grid of 8 tokens (a patch's token is its brightness, quantized); "coarse-tok" has a 2x2 grid, which no ViT of
 * these images matches.
 */
public class FakeTokenizerService implements QuarkusTestResourceLifecycleManager {
    /** Tokenize calls received. */
    public static final AtomicInteger TOKENIZE_CALLS = new AtomicInteger();

    private Server server;

    static TokenizerInfo info(String name, int patch) {
        return TokenizerInfo.newBuilder()
                .setName(name)
                .setKind(TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES)
                .setVocabularySize(8)
                .setPatchSize(patch)
                .setImageSize(16)
                .setChannels(1)
                .setGridSize(16 / patch)
                .build();
    }

    @Override
    public Map<String, String> start() {
        server = ServerBuilder.forPort(0)
                .addService(io.grpc.ServerInterceptors.intercept(
                        new TokenizerServiceGrpc.TokenizerServiceImplBase() {
                            @Override
                            public void getTokenizer(GetTokenizerRequest r, StreamObserver<TokenizerInfo> out) {
                                switch (r.getName()) {
                                    case "tiny-tok" -> out.onNext(info("tiny-tok", 4));
                                    case "coarse-tok" -> out.onNext(info("coarse-tok", 8));
                                    default -> {
                                        out.onError(Status.NOT_FOUND
                                                .withDescription("no tokenizer named '" + r.getName() + "'")
                                                .asRuntimeException());
                                        return;
                                    }
                                }
                                out.onCompleted();
                            }

                            @Override
                            public void tokenize(TokenizeRequest r, StreamObserver<TokenizeResponse> out) {
                                TOKENIZE_CALLS.incrementAndGet();
                                TokenizeResponse.Builder resp = TokenizeResponse.newBuilder();
                                for (var image : r.getImagesList()) {
                                    byte[] px = image.getRaw().getData().toByteArray(); // 16x16x1
                                    TokenGrid.Builder g =
                                            TokenGrid.newBuilder().setRows(4).setCols(4);
                                    for (int gy = 0; gy < 4; gy++) {
                                        for (int gx = 0; gx < 4; gx++) {
                                            int sum = 0;
                                            for (int y = 0; y < 4; y++) {
                                                for (int x = 0; x < 4; x++) {
                                                    sum += px[(gy * 4 + y) * 16 + gx * 4 + x] & 0xff;
                                                }
                                            }
                                            g.addIds(Math.min(7, sum / 16 / 32));
                                        }
                                    }
                                    resp.addGrids(g);
                                }
                                out.onNext(resp.build());
                                out.onCompleted();
                            }
                        },
                        new RequireOperatorToken()))
                .build();
        try {
            server.start();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return Map.of("selfsup.trainer.tokenizer-service", "localhost:" + server.getPort());
    }

    @Override
    public void stop() {
        if (server != null) {
            server.shutdownNow();
        }
    }
}
