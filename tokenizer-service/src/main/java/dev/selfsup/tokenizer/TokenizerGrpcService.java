package dev.selfsup.tokenizer;

import com.google.protobuf.ByteString;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.proto.Roles;
import dev.selfsup.proto.v1.DecodeRequest;
import dev.selfsup.proto.v1.DecodeResponse;
import dev.selfsup.proto.v1.GetTokenizerRequest;
import dev.selfsup.proto.v1.ListTokenizersRequest;
import dev.selfsup.proto.v1.ListTokenizersResponse;
import dev.selfsup.proto.v1.TokenGrid;
import dev.selfsup.proto.v1.TokenizeRequest;
import dev.selfsup.proto.v1.TokenizeResponse;
import dev.selfsup.proto.v1.TokenizerEvent;
import dev.selfsup.proto.v1.TokenizerInfo;
import dev.selfsup.proto.v1.TokenizerServiceGrpc;
import dev.selfsup.service.GrpcCalls;
import dev.selfsup.service.ImageInputs;
import dev.selfsup.service.StreamReplies;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.security.RolesAllowed;
import jakarta.inject.Inject;
import java.util.Arrays;
import java.util.function.Supplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The TokenizerService API: a thin adapter from protos to core's tokenizers. Tokenizing, decoding and training run
 * on the service's own worker pool ({@link GrpcCalls}), never on the event loop.
 */
@GrpcService
public class TokenizerGrpcService extends TokenizerServiceGrpc.TokenizerServiceImplBase {
    @Inject
    TokenizerRegistry registry;

    @Inject
    TokenizerMetrics metrics;

    @ConfigProperty(name = "selfsup.tokenizer.max-request-images", defaultValue = "1024")
    int maxRequestImages;

    private final GrpcCalls calls;

    @Inject
    public TokenizerGrpcService(@ConfigProperty(name = "selfsup.tokenizer.workers", defaultValue = "2") int workers) {
        this.calls = new GrpcCalls("tokenizer-worker", Math.max(1, workers), null);
    }

    @PreDestroy
    void close() {
        calls.close();
    }

    /** Runs {@code work} on the pool and counts its images when it succeeds. */
    private <T> void work(StreamObserver<T> out, String method, String tokenizer, int images, Supplier<T> work) {
        calls.blocking(out, () -> {
            T answer = work.get();
            metrics.images(method, tokenizer, images);
            return answer;
        });
    }

    @RolesAllowed(Roles.OPERATOR)
    @Override
    public void trainTokenizer(dev.selfsup.proto.v1.TokenizerSpec request, StreamObserver<TokenizerEvent> out) {
        Multi<TokenizerEvent> events = Multi.createFrom()
                .<TokenizerEvent>emitter(em -> {
                    try {
                        registry.train(request, em);
                    } catch (RuntimeException e) {
                        em.fail(e);
                    }
                })
                .runSubscriptionOn(calls.pool());
        StreamReplies.forward(events, out, calls);
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void listTokenizers(ListTokenizersRequest request, StreamObserver<ListTokenizersResponse> out) {
        calls.unary(out, () -> {
            ListTokenizersResponse.Builder b = ListTokenizersResponse.newBuilder();
            registry.list().forEach(e -> b.addTokenizers(TokenizerRegistry.info(e)));
            return b.build();
        });
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void getTokenizer(GetTokenizerRequest request, StreamObserver<TokenizerInfo> out) {
        calls.unary(out, () -> TokenizerRegistry.info(registry.get(request.getName())));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> out) {
        work(out, "Tokenize", request.getTokenizer(), request.getImagesCount(), () -> tokenizeNow(request));
    }

    @RolesAllowed(Roles.READER)
    @Override
    public StreamObserver<TokenizeRequest> tokenizeStream(StreamObserver<TokenizeResponse> out) {
        return new TokenizeStream(out, calls, request -> {
            TokenizeResponse r = tokenizeNow(request);
            metrics.images("TokenizeStream", request.getTokenizer(), request.getImagesCount());
            return r;
        });
    }

    private TokenizeResponse tokenizeNow(TokenizeRequest request) {
        TokenizerRegistry.Entry e = registry.get(request.getTokenizer());
        TokenizerSpec s = e.tokenizer().spec();
        float[] pixels =
                ImageInputs.toPixels(request.getImagesList(), s.channels(), s.imageSize(), maxRequestImages, "images");
        int n = request.getImagesCount();
        int g = s.gridSize();
        long[] ids = e.tokenizer().tokenize(pixels, n);
        TokenizeResponse.Builder out = TokenizeResponse.newBuilder();
        for (int i = 0; i < n; i++) {
            TokenGrid.Builder grid = TokenGrid.newBuilder().setRows(g).setCols(g);
            for (int j = 0; j < g * g; j++) {
                grid.addIds((int) ids[i * g * g + j]);
            }
            out.addGrids(grid);
        }
        return out.build();
    }

    @RolesAllowed(Roles.READER)
    @Override
    public void decode(DecodeRequest request, StreamObserver<DecodeResponse> out) {
        work(out, "Decode", request.getTokenizer(), request.getGridsCount(), () -> decodeNow(request));
    }

    private DecodeResponse decodeNow(DecodeRequest request) {
        TokenizerRegistry.Entry e = registry.get(request.getTokenizer());
        TokenizerSpec s = e.tokenizer().spec();
        int n = request.getGridsCount();
        if (n == 0) {
            throw invalid("grids is empty: send at least one token grid");
        }
        if (n > maxRequestImages) {
            throw invalid("grids has " + n + " grids; the limit per request is " + maxRequestImages);
        }
        int g = s.gridSize();
        long[] ids = new long[n * g * g];
        for (int i = 0; i < n; i++) {
            TokenGrid grid = request.getGrids(i);
            if (grid.getRows() != g || grid.getCols() != g || grid.getIdsCount() != g * g) {
                throw invalid("grids[" + i + "] is " + grid.getRows() + "x" + grid.getCols() + " with "
                        + grid.getIdsCount() + " ids; tokenizer '" + request.getTokenizer() + "' makes " + g + "x" + g
                        + " grids");
            }
            for (int j = 0; j < g * g; j++) {
                int id = grid.getIds(j);
                if (id < 0 || id >= s.vocabularySize()) {
                    throw invalid("grids[" + i + "].ids[" + j + "] is " + id + "; the vocabulary is 0.."
                            + (s.vocabularySize() - 1));
                }
                ids[i * g * g + j] = id;
            }
        }
        DecodeResponse.Builder out = DecodeResponse.newBuilder();
        byte[] chw = e.tokenizer().decodeToBytes(ids, n);
        int per = s.channels() * s.imageSize() * s.imageSize();
        for (int i = 0; i < n; i++) {
            byte[] one = Arrays.copyOfRange(chw, i * per, (i + 1) * per);
            out.addPng(ByteString.copyFrom(ImageCodec.encodePng(one, s.channels(), s.imageSize(), s.imageSize())));
        }
        return out.build();
    }

    private static StatusRuntimeException invalid(String message) {
        return GrpcCalls.invalid(message);
    }
}
