package dev.selfsup.service;

import com.google.protobuf.MessageLite;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GlobalInterceptor;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.server.GrpcServerRequest;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import jakarta.inject.Inject;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * One budget per process for the bytes that client streams have sent and the service has not taken yet
 * ({@code selfsup.streams.max-held-bytes}, by default a quarter of the heap); a stream whose bytes would pass it is refused, RESOURCE_EXHAUSTED.
 *
 * <p>Why: a service takes a stream's next request only when it is ready for it (TokenizeStream when the client has
 * read the previous answer), but the transport reads on: vertx-grpc queues up to 16 whole messages per stream
 * before it stops reading, so a client that sends and never reads makes each of its streams hold up to 16 times the
 * message limit (measured: 60-70 MiB per stream), and N such streams hold N times that. Here every byte of a
 * client stream is counted when it reaches the transport and given back when its message is handed to the service
 * (or the call ends); the count is shared by all streams of the process, and the stream whose bytes would pass the
 * budget is refused and its bytes let go, while the others keep being served. The bytes are counted on the HTTP/2
 * request under the call ({@link TransportCalls}), before vertx-grpc sees them. Unary calls hold one message each
 * and are not counted.
 */
@GlobalInterceptor
@ApplicationScoped
public class StreamBytes implements ServerInterceptor, Prioritized {
    private static final Logger LOG = Logger.getLogger(StreamBytes.class);

    static final String REFUSED = "%s: the streams open on this service hold %,d bytes of requests it has not taken"
            + " yet, and %,d more would pass its budget of %,d bytes (selfsup.streams.max-held-bytes); read the"
            + " answers of your streams so that their requests are taken, send smaller messages, or retry once other"
            + " streams have ended";

    private final AtomicLong held = new AtomicLong();
    private final AtomicBoolean reportedMissing = new AtomicBoolean();
    private final long budget;

    @Inject
    public StreamBytes(
            MeterRegistry registry,
            @ConfigProperty(name = "quarkus.application.name") String application,
            @ConfigProperty(name = "selfsup.streams.max-held-bytes", defaultValue = "0") long budget) {
        if (budget < 0) {
            throw new IllegalArgumentException("selfsup.streams.max-held-bytes must be positive (or 0), was " + budget);
        }
        // Where the transport keeps them: the heap.
        this.budget = budget > 0 ? budget : Runtime.getRuntime().maxMemory() / 4;
        Gauge.builder("selfsup." + application.replaceFirst("-service$", "") + ".stream.held", held, AtomicLong::get)
                .baseUnit("bytes")
                .description("Bytes of client streams' requests received and not yet taken by the service")
                .register(registry);
    }

    /** Bytes held now by all streams. */
    long held() {
        return held.get();
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (call.getMethodDescriptor().getType().clientSendsOneMessage()) {
            return next.startCall(call, headers);
        }
        Optional<GrpcServerRequest<?, ?>> request = TransportCalls.request(call);
        Optional<HttpServerRequest> http = request.flatMap(TransportCalls::http);
        if (http.isEmpty() || !(request.get() instanceof Handler<?>)) {
            if (reportedMissing.compareAndSet(false, true)) {
                LOG.warnf(
                        "gRPC calls (%s) do not expose the transport's request: client streams are not counted"
                                + " against selfsup.streams.max-held-bytes",
                        call.getClass().getName());
            }
            return next.startCall(call, headers);
        }
        @SuppressWarnings("unchecked")
        Handler<Buffer> transport = (Handler<Buffer>) request.get();
        HeldStream<Q> stream = new HeldStream<>(call, transport);
        http.get().handler(stream::arrive);
        ServerCall<Q, R> guarded = new SimpleForwardingServerCall<>(call) {
            @Override
            public void sendMessage(R message) {
                if (!stream.refused) {
                    super.sendMessage(message);
                }
            }

            @Override
            public void close(Status status, Metadata trailers) {
                stream.release();
                if (!stream.refused) {
                    super.close(status, trailers);
                }
            }
        };
        stream.inner = next.startCall(guarded, headers);
        return new SimpleForwardingServerCallListener<>(stream.inner) {
            @Override
            public void onMessage(Q message) {
                stream.taken(message);
                super.onMessage(message);
            }

            @Override
            public void onHalfClose() {
                stream.release();
                super.onHalfClose();
            }

            @Override
            public void onCancel() {
                stream.release();
                super.onCancel();
            }

            @Override
            public void onComplete() {
                stream.release();
                super.onComplete();
            }
        };
    }

    /** Takes {@code bytes} from the budget, or nothing and false when they would pass it. */
    boolean reserve(long bytes) {
        while (true) {
            long now = held.get();
            if (now + bytes > budget) {
                return false;
            }
            if (held.compareAndSet(now, now + bytes)) {
                return true;
            }
        }
    }

    /**
     * One client stream's bytes: received on the event loop, given back from any thread. Counting is under the
     * stream's lock, so bytes that arrive while the call ends are either given back with it or never taken.
     */
    private final class HeldStream<Q> {
        private final ServerCall<Q, ?> call;
        private final Handler<Buffer> transport;
        private long mine;
        private boolean over;
        volatile ServerCall.Listener<Q> inner;
        volatile boolean refused;

        HeldStream(ServerCall<Q, ?> call, Handler<Buffer> transport) {
            this.call = call;
            this.transport = transport;
        }

        void arrive(Buffer chunk) {
            int bytes = chunk.length();
            long before;
            synchronized (this) {
                if (over) {
                    return; // the call has ended: its further bytes are dropped, not queued
                }
                before = held.get();
                if (reserve(bytes)) {
                    mine += bytes;
                    before = -1;
                }
            }
            if (before >= 0) {
                refuse(before, bytes);
            } else {
                transport.handle(chunk);
            }
        }

        /** A message handed to the service: its bytes and its 5-byte gRPC prefix are given back. */
        synchronized void taken(Q message) {
            long bytes = 5L + (message instanceof MessageLite m ? m.getSerializedSize() : 0);
            long back = Math.min(bytes, mine);
            mine -= back;
            held.addAndGet(-back);
        }

        synchronized void release() {
            over = true;
            held.addAndGet(-mine);
            mine = 0;
        }

        private void refuse(long before, int bytes) {
            refused = true; // first: a close by the service from now on is dropped, not sent after this one
            release();
            String method = call.getMethodDescriptor().getBareMethodName();
            try {
                StatusMessages.close(
                        call,
                        Status.RESOURCE_EXHAUSTED.withDescription(
                                String.format(Locale.ROOT, REFUSED, method, before, bytes, budget)),
                        new Metadata());
            } catch (IllegalStateException ended) {
                // The transport ended the call already (a message over the size limit): nothing more to say.
            }
            LOG.debugf("%s: refused, streams hold %d bytes of a budget of %d", method, before, budget);
            ServerCall.Listener<Q> listener = inner;
            if (listener != null) {
                listener.onCancel(); // the service stops as for a client gone; what it still sends is dropped
            }
        }
    }

    /** Inside {@link RequestMetrics}, so a refusal is counted, and outside Quarkus's duplicated context. */
    @Override
    public int getPriority() {
        return Integer.MAX_VALUE - 3;
    }
}
