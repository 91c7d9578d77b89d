package dev.selfsup.tokenizer;

import dev.selfsup.proto.v1.TokenizeRequest;
import dev.selfsup.proto.v1.TokenizeResponse;
import dev.selfsup.service.GrpcCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.function.Function;

/**
 * One TokenizeStream call with flow control both ways: the next request is read only when the previous answer
 * has been computed and the client is ready to take it. A client that sends faster than the service computes,
 * or reads slower, waits in gRPC's flow-control window; the server never queues more than one request and one
 * answer per stream. Answers come in request order; the first failure ends the stream with its status.
 */
final class TokenizeStream implements StreamObserver<TokenizeRequest> {
    private final ServerCallStreamObserver<TokenizeResponse> out;
    private final GrpcCalls calls;
    private final Function<TokenizeRequest, TokenizeResponse> tokenize;
    private boolean working;
    private boolean halfClosed;
    private boolean ended;
    private boolean waitingForReady;

    TokenizeStream(
            StreamObserver<TokenizeResponse> out,
            GrpcCalls calls,
            Function<TokenizeRequest, TokenizeResponse> tokenize) {
        this.out = (ServerCallStreamObserver<TokenizeResponse>) out;
        this.calls = calls;
        this.tokenize = tokenize;
        this.out.disableAutoRequest();
        this.out.setOnReadyHandler(this::readyAgain);
        this.out.setOnCancelHandler(() -> {
            synchronized (this) {
                ended = true;
            }
        });
        this.out.request(1);
    }

    @Override
    public void onNext(TokenizeRequest request) {
        synchronized (this) {
            if (ended) {
                return;
            }
            working = true;
        }
        calls.offload(() -> {
            TokenizeResponse answer;
            try {
                answer = tokenize.apply(request);
            } catch (RuntimeException e) {
                end(e);
                return;
            }
            synchronized (this) {
                if (ended) {
                    return;
                }
                out.onNext(answer);
                working = false;
                if (halfClosed) {
                    ended = true;
                    out.onCompleted();
                } else if (out.isReady()) {
                    out.request(1);
                } else {
                    waitingForReady = true;
                }
            }
        });
    }

    private synchronized void readyAgain() {
        if (waitingForReady && !ended) {
            waitingForReady = false;
            out.request(1);
        }
    }

    @Override
    public void onError(Throwable t) {
        synchronized (this) {
            ended = true;
        }
    }

    @Override
    public synchronized void onCompleted() {
        halfClosed = true;
        if (!working && !ended) {
            ended = true;
            out.onCompleted();
        }
    }

    private void end(Throwable e) {
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
        }
        calls.fail(out, e);
    }
}
