package dev.selfsup.trainer;

import com.google.protobuf.ByteString;
import dev.selfsup.core.method.UnsuitableDataException;
import dev.selfsup.core.tokenizer.TokenizerSpec;
import dev.selfsup.core.tokenizer.VisualTokenSource;
import dev.selfsup.proto.v1.GetTokenizerRequest;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.RawImage;
import dev.selfsup.proto.v1.TokenGrid;
import dev.selfsup.proto.v1.TokenizeRequest;
import dev.selfsup.proto.v1.TokenizeResponse;
import dev.selfsup.proto.v1.TokenizerInfo;
import dev.selfsup.proto.v1.TokenizerKind;
import dev.selfsup.proto.v1.TokenizerServiceGrpc;
import dev.selfsup.service.auth.SuiteChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** BEiT's targets from the tokenizer-service over gRPC: looks tokenizers up and asks for tokens. */
@ApplicationScoped
public class TokenizerClient {
    /** host:port of the tokenizer-service, e.g. "tokenizer-service:8084"; empty: BEiT runs are refused. */
    @ConfigProperty(name = "selfsup.trainer.tokenizer-service")
    Optional<String> address;

    @ConfigProperty(name = "selfsup.trainer.tokenize-timeout", defaultValue = "PT60S")
    Duration timeout;

    @Inject
    SuiteChannels suite;

    private ManagedChannel channel;

    private synchronized ManagedChannel channel() {
        if (channel == null) {
            String a = address.filter(x -> !x.isBlank())
                    .orElseThrow(() -> new UnsuitableDataException("BEiT needs "
                            + "a tokenizer-service: set selfsup.trainer.tokenizer-service=host:port on the trainer"));
            try {
                channel = suite.to(a).maxInboundMessageSize(64 << 20).build();
            } catch (IllegalArgumentException e) {
                throw new UnsuitableDataException("selfsup.trainer.tokenizer-service: " + e.getMessage());
            }
        }
        return channel;
    }

    @PreDestroy
    synchronized void close() {
        if (channel != null) {
            channel.shutdownNow();
        }
    }

    /**
     * The spec of tokenizer {@code name}.
     *
     * @throws UnsuitableDataException if the service is not configured, not reachable, or has no such tokenizer
     */
    public TokenizerSpec spec(String name) {
        try {
            TokenizerInfo info = TokenizerServiceGrpc.newBlockingStub(channel())
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .getTokenizer(GetTokenizerRequest.newBuilder().setName(name).build());
            return new TokenizerSpec(
                    info.getKind() == TokenizerKind.TOKENIZER_KIND_KMEANS_PATCHES
                            ? TokenizerSpec.KMEANS_PATCHES
                            : TokenizerSpec.VQ,
                    info.getVocabularySize(),
                    info.getPatchSize(),
                    info.getImageSize(),
                    info.getChannels(),
                    1,
                    1);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                throw new UnsuitableDataException("tokenizer '" + name + "' does not exist on the tokenizer-service at "
                        + address.orElse("") + ": " + e.getStatus().getDescription());
            }
            // The code and description only: Status.toString() carries the cause's stack trace.
            Status st = e.getStatus();
            throw new UnsuitableDataException("the tokenizer-service at " + address.orElse("")
                    + " cannot be asked about tokenizer '" + name + "': " + st.getCode()
                    + (st.getDescription() == null ? "" : " " + st.getDescription()));
        }
    }

    /** A token source for BEiT: one Tokenize call per batch, pixels sent raw (uint8, HWC). */
    public VisualTokenSource source(String name) {
        TokenizerSpec spec = spec(name);
        return new VisualTokenSource() {
            @Override
            public TokenizerSpec spec() {
                return spec;
            }

            @Override
            public long[] tokenize(byte[] chw, int count) {
                int c = spec.channels();
                int s = spec.imageSize();
                int plane = s * s;
                TokenizeRequest.Builder r = TokenizeRequest.newBuilder().setTokenizer(name);
                byte[] hwc = new byte[c * plane];
                for (int i = 0; i < count; i++) {
                    int base = i * c * plane;
                    for (int ch = 0; ch < c; ch++) {
                        for (int p = 0; p < plane; p++) {
                            hwc[p * c + ch] = chw[base + ch * plane + p];
                        }
                    }
                    r.addImages(Image.newBuilder()
                            .setRaw(RawImage.newBuilder()
                                    .setHeight(s)
                                    .setWidth(s)
                                    .setChannels(c)
                                    .setData(ByteString.copyFrom(hwc))));
                }
                TokenizeResponse resp = TokenizerServiceGrpc.newBlockingStub(channel())
                        .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                        .tokenize(r.build());
                int g = spec.gridSize();
                long[] out = new long[count * g * g];
                for (int i = 0; i < count; i++) {
                    TokenGrid grid = resp.getGrids(i);
                    for (int j = 0; j < g * g; j++) {
                        out[i * g * g + j] = grid.getIds(j);
                    }
                }
                return out;
            }
        };
    }
}
