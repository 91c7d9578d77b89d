package dev.selfsup.tokenizer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.protobuf.ByteString;
import dev.selfsup.core.data.ImageCodec;
import dev.selfsup.core.engine.GradMode;
import dev.selfsup.core.tokenizer.TokenizerSpec;
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
import dev.selfsup.proto.v1.TokenizerService;
import dev.selfsup.service.GrpcErrors;
import dev.selfsup.service.ImageInputs;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Inject;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The TokenizerService API: a thin adapter from protos to core's tokenizers. Tokenizing and decoding run on the
 * service's own worker pool, never on the event loop.
 */
@GrpcService
public class TokenizerGrpcService implements TokenizerService {
    @Inject
    TokenizerRegistry registry;
    @Inject
    TokenizerMetrics metrics;

    @ConfigProperty(name = "selfsup.tokenizer.max-request-images", defaultValue = "1024")
    int maxRequestImages;
    @ConfigProperty(name = "selfsup.tokenizer.workers", defaultValue = "2")
    int workers;

    private volatile ExecutorService pool;

    private ExecutorService pool() {
        if (pool == null) {
            synchronized (this) {
                if (pool == null) {
                    pool = Executors.newFixedThreadPool(Math.max(1, workers), r -> {
                        Thread t = new Thread(() -> {
                            GradMode.disableOnThisThread();
                            r.run();
                        }, "tokenizer-worker");
                        t.setDaemon(true);
                        return t;
                    });
                }
            }
        }
        return pool;
    }

    @PreDestroy
    void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }

    /** Runs {@code work} on the pool, counting it as a request of {@code method}. */
    private <T> Uni<T> work(String method, String tokenizer, int images, Supplier<T> work) {
        return Uni.createFrom().item(() -> {
            long t0 = System.nanoTime();
            String status = "OK";
            try {
                return work.get();
            } catch (RuntimeException e) {
                Status s = GrpcErrors.toStatus(e);
                status = s.getCode().name();
                throw s.asRuntimeException();
            } finally {
                metrics.request(method, tokenizer, status, "OK".equals(status) ? images : 0, System.nanoTime() - t0);
            }
        }).runSubscriptionOn(pool());
    }

    @Override
    public Multi<TokenizerEvent> trainTokenizer(dev.selfsup.proto.v1.TokenizerSpec request) {
        return Multi.createFrom().<TokenizerEvent>emitter(out -> {
            try {
                registry.train(request, out);
            } catch (RuntimeException e) {
                out.fail(e);
            }
        }).runSubscriptionOn(pool());
    }

    @Override
    public Uni<ListTokenizersResponse> listTokenizers(ListTokenizersRequest request) {
        ListTokenizersResponse.Builder b = ListTokenizersResponse.newBuilder();
        registry.list().forEach(e -> b.addTokenizers(TokenizerRegistry.info(e)));
        return Uni.createFrom().item(b.build());
    }

    @Override
    public Uni<TokenizerInfo> getTokenizer(GetTokenizerRequest request) {
        return Uni.createFrom().item(() -> TokenizerRegistry.info(registry.get(request.getName())));
    }

    @Override
    public Uni<TokenizeResponse> tokenize(TokenizeRequest request) {
        return work("Tokenize", request.getTokenizer(), request.getImagesCount(), () -> tokenizeNow(request));
    }

    @Override
    public Multi<TokenizeResponse> tokenizeStream(Multi<TokenizeRequest> requests) {
        // One request at a time, in order: the next is read only when this answer has been sent on.
        return requests.onItem().transformToUniAndConcatenate(this::tokenize);
    }

    private TokenizeResponse tokenizeNow(TokenizeRequest request) {
        TokenizerRegistry.Entry e = registry.get(request.getTokenizer());
        TokenizerSpec s = e.tokenizer().spec();
        float[] pixels = ImageInputs.toPixels(request.getImagesList(), s.channels(), s.imageSize(), maxRequestImages,
                "images");
        int n = request.getImagesCount();
        int g = s.gridSize();
        long[] ids;
        try (NDManager m = NDManager.newBaseManager(registryDevice(e))) {
            NDArray x = m.create(pixels, new Shape(n, s.channels(), s.imageSize(), s.imageSize()));
            ids = e.tokenizer().tokenize(x).toType(DataType.INT64, false).toLongArray();
        }
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

    private static ai.djl.Device registryDevice(TokenizerRegistry.Entry e) {
        if (e.tokenizer() instanceof dev.selfsup.core.tokenizer.VqTokenizer vq) {
            return vq.manager().getDevice();
        }
        return ((dev.selfsup.core.tokenizer.PatchKMeansTokenizer) e.tokenizer()).centroids().getDevice();
    }

    @Override
    public Uni<DecodeResponse> decode(DecodeRequest request) {
        return work("Decode", request.getTokenizer(), request.getGridsCount(), () -> decodeNow(request));
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
        try (NDManager m = NDManager.newBaseManager(registryDevice(e))) {
            NDArray tokens = m.create(ids, new Shape(n, g, g));
            byte[] chw = e.tokenizer().decode(tokens).mul(255f).round().clip(0f, 255f).toType(DataType.UINT8, false)
                    .toByteArray();
            int per = s.channels() * s.imageSize() * s.imageSize();
            for (int i = 0; i < n; i++) {
                byte[] one = java.util.Arrays.copyOfRange(chw, i * per, (i + 1) * per);
                out.addPng(ByteString.copyFrom(ImageCodec.encodePng(one, s.channels(), s.imageSize(), s.imageSize())));
            }
        }
        return out.build();
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
