package dev.selfsup.encoder;

import com.google.protobuf.ByteString;
import dev.selfsup.proto.inference.InferParameter;
import dev.selfsup.proto.inference.InferTensorContents;
import dev.selfsup.proto.inference.ModelInferRequest;
import dev.selfsup.proto.inference.ModelInferResponse;
import dev.selfsup.proto.inference.ModelMetadataResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The Open Inference Protocol's REST form on the encoder-service's port ({@code /v2/...}): JSON in, the same
 * {@link OpenInference} calls as the gRPC form, JSON out. Errors are {@code {"error": "..."}} with the HTTP status of
 * their gRPC code. A reader token is needed (an HTTP permission on {@code /v2/*}).
 */
@ApplicationScoped
public class OpenInferenceRoutes {
    private static final Logger LOG = Logger.getLogger(OpenInferenceRoutes.class);

    @Inject
    OpenInference inference;

    /** The largest JSON body of an infer request, counted as it arrives (with or without a Content-Length). */
    @ConfigProperty(name = "selfsup.encoder.max-rest-body-bytes")
    long maxBodyBytes;

    private final EncoderCalls calls = new EncoderCalls();

    @PreDestroy
    void stop() {
        calls.close();
    }

    void routes(@Observes Router router) {
        router.get("/v2/health/live").handler(rc -> reply(rc, () -> new JsonObject().put("live", true)));
        router.get("/v2/health/ready").handler(rc -> offload(rc, () -> ready(rc, inference.serverReady())));
        router.get("/v2")
                .handler(rc -> reply(rc, () -> {
                    var m = inference.serverMetadata();
                    return new JsonObject()
                            .put("name", m.getName())
                            .put("version", m.getVersion())
                            .put("extensions", new JsonArray(m.getExtensionsList()));
                }));
        for (String model : new String[] {"/v2/models/:model", "/v2/models/:model/versions/:version"}) {
            router.get(model)
                    .handler(rc -> offload(
                            rc,
                            () -> send(
                                    rc, 200, metadata(inference.modelMetadata(rc.pathParam("model"), version(rc))))));
            router.get(model + "/ready")
                    .handler(rc ->
                            offload(rc, () -> ready(rc, inference.modelReady(rc.pathParam("model"), version(rc)))));
            router.post(model + "/infer")
                    .handler(BodyHandler.create().setBodyLimit(maxBodyBytes))
                    .handler(this::infer);
        }
    }

    private static String version(RoutingContext rc) {
        String v = rc.pathParam("version");
        return v == null ? "" : v;
    }

    private void infer(RoutingContext rc) {
        calls.pool().execute(() -> {
            CompletableFuture<ModelInferResponse> f;
            try {
                ModelInferRequest request = request(rc);
                f = inference.infer(request, () -> rc.response().closed());
            } catch (RuntimeException e) {
                fail(rc, e);
                return;
            }
            f.whenComplete((r, e) -> {
                if (e != null) {
                    fail(rc, e);
                } else {
                    send(rc, 200, response(r));
                }
            });
        });
    }

    /** The JSON request as the protocol's gRPC message, with typed contents. */
    private static ModelInferRequest request(RoutingContext rc) {
        JsonObject body;
        try {
            body = rc.body().asJsonObject();
        } catch (DecodeException | ClassCastException e) {
            throw invalid("the body is not a JSON object: " + e.getMessage());
        }
        if (body == null) {
            throw invalid("the body is empty: send {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]}");
        }
        ModelInferRequest.Builder b = ModelInferRequest.newBuilder()
                .setModelName(rc.pathParam("model"))
                .setModelVersion(version(rc))
                .setId(body.getString("id", ""));
        parameters(body.getJsonObject("parameters")).forEach(b::putParameters);
        JsonArray inputs = body.getJsonArray("inputs");
        if (inputs == null) {
            throw invalid("the body has no \"inputs\" array");
        }
        for (int i = 0; i < inputs.size(); i++) {
            JsonObject in = inputs.getJsonObject(i);
            ModelInferRequest.InferInputTensor.Builder t = ModelInferRequest.InferInputTensor.newBuilder()
                    .setName(in.getString("name", ""))
                    .setDatatype(in.getString("datatype", ""));
            JsonArray shape = in.getJsonArray("shape", new JsonArray());
            for (int d = 0; d < shape.size(); d++) {
                t.addShape(shape.getLong(d));
            }
            InferTensorContents.Builder c = InferTensorContents.newBuilder();
            flatten(in.getValue("data"), t.getDatatype(), c, "inputs[" + i + "].data");
            b.addInputs(t.setContents(c));
        }
        JsonArray outputs = body.getJsonArray("outputs");
        if (outputs != null) {
            for (int i = 0; i < outputs.size(); i++) {
                b.addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
                        .setName(outputs.getJsonObject(i).getString("name", "")));
            }
        }
        return b.build();
    }

    /** Adds the values of a (possibly nested) JSON array to the contents field of {@code datatype}. */
    private static void flatten(Object data, String datatype, InferTensorContents.Builder c, String where) {
        if (data instanceof JsonArray a) {
            for (Object o : a) {
                flatten(o, datatype, c, where);
            }
            return;
        }
        try {
            switch (datatype) {
                case "UINT8" -> {
                    long v = ((Number) data).longValue();
                    if (v < 0 || v > 255 || ((Number) data).doubleValue() != v) {
                        throw invalid(where + ": UINT8 values are integers 0 to 255, found " + data);
                    }
                    c.addUintContents((int) v);
                }
                case "FP32" -> c.addFp32Contents(((Number) data).floatValue());
                case "BYTES" ->
                    c.addBytesContents(ByteString.copyFrom(Base64.getDecoder().decode((String) data)));
                default ->
                    throw invalid(where + ": datatype '" + datatype + "' is not one this server takes (UINT8,"
                            + " FP32, BYTES)");
            }
        } catch (ClassCastException | NullPointerException e) {
            throw invalid(where + ": a " + datatype + " value must be a "
                    + ("BYTES".equals(datatype) ? "base64 string" : "number") + ", found " + data);
        } catch (IllegalArgumentException e) {
            throw invalid(where + ": BYTES values are base64 strings of PNG/JPEG files: " + e.getMessage());
        }
    }

    private static Map<String, InferParameter> parameters(JsonObject p) {
        if (p == null) {
            return Map.of();
        }
        java.util.LinkedHashMap<String, InferParameter> out = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, Object> e : p) {
            Object v = e.getValue();
            InferParameter.Builder b = InferParameter.newBuilder();
            if (v instanceof Boolean x) {
                b.setBoolParam(x);
            } else if (v instanceof Number x && x.doubleValue() == x.longValue()) {
                b.setInt64Param(x.longValue());
            } else if (v instanceof Number x) {
                b.setDoubleParam(x.doubleValue());
            } else {
                b.setStringParam(String.valueOf(v));
            }
            out.put(e.getKey(), b.build());
        }
        return out;
    }

    private static JsonObject response(ModelInferResponse r) {
        JsonArray outputs = new JsonArray();
        for (ModelInferResponse.InferOutputTensor t : r.getOutputsList()) {
            outputs.add(new JsonObject()
                    .put("name", t.getName())
                    .put("datatype", t.getDatatype())
                    .put("shape", new JsonArray(t.getShapeList()))
                    .put("data", new JsonArray(t.getContents().getFp32ContentsList())));
        }
        return new JsonObject()
                .put("model_name", r.getModelName())
                .put("model_version", r.getModelVersion())
                .put("id", r.getId())
                .put("outputs", outputs);
    }

    private static JsonObject metadata(ModelMetadataResponse m) {
        JsonObject j = new JsonObject()
                .put("name", m.getName())
                .put("versions", new JsonArray(m.getVersionsList()))
                .put("platform", m.getPlatform())
                .put("inputs", tensors(m.getInputsList()))
                .put("outputs", tensors(m.getOutputsList()));
        j.put("properties", new JsonObject(Map.copyOf(m.getPropertiesMap())));
        return j;
    }

    private static JsonArray tensors(java.util.List<ModelMetadataResponse.TensorMetadata> ts) {
        JsonArray a = new JsonArray();
        ts.forEach(t -> a.add(new JsonObject()
                .put("name", t.getName())
                .put("datatype", t.getDatatype())
                .put("shape", new JsonArray(t.getShapeList()))));
        return a;
    }

    /** The protocol's boolean answers: 200 for true, 400 for false. */
    private static void ready(RoutingContext rc, boolean ready) {
        send(rc, ready ? 200 : 400, new JsonObject().put("ready", ready));
    }

    private void reply(RoutingContext rc, Supplier<JsonObject> body) {
        try {
            send(rc, 200, body.get());
        } catch (RuntimeException e) {
            fail(rc, e);
        }
    }

    private void offload(RoutingContext rc, Runnable work) {
        calls.pool().execute(() -> {
            try {
                work.run();
            } catch (RuntimeException e) {
                fail(rc, e);
            }
        });
    }

    private static void send(RoutingContext rc, int status, JsonObject body) {
        rc.vertx().runOnContext(v -> {
            if (!rc.response().ended() && !rc.response().closed()) {
                rc.response()
                        .setStatusCode(status)
                        .putHeader("content-type", "application/json")
                        .end(body.encode());
            }
        });
    }

    /** A failure as the protocol's error object, with the HTTP status of its gRPC code. */
    private void fail(RoutingContext rc, Throwable e) {
        StatusRuntimeException s = calls.toStatus(e);
        Status status = s.getStatus();
        int http = switch (status.getCode()) {
            case INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> 400;
            case UNAUTHENTICATED -> 401;
            case PERMISSION_DENIED -> 403;
            case NOT_FOUND -> 404;
            case RESOURCE_EXHAUSTED -> 429;
            case UNAVAILABLE -> 503;
            case DEADLINE_EXCEEDED -> 504;
            default -> 500;
        };
        if (http == 500) {
            LOG.errorf(e, "REST inference failed");
        }
        String message = status.getDescription() == null ? status.getCode().name() : status.getDescription();
        send(rc, http, new JsonObject().put("error", message));
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
