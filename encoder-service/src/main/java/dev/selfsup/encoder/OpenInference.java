package dev.selfsup.encoder;

import com.google.protobuf.ByteString;
import dev.selfsup.proto.inference.InferParameter;
import dev.selfsup.proto.inference.InferTensorContents;
import dev.selfsup.proto.inference.ModelInferRequest;
import dev.selfsup.proto.inference.ModelInferResponse;
import dev.selfsup.proto.inference.ModelMetadataResponse;
import dev.selfsup.proto.inference.ModelMetadataResponse.TensorMetadata;
import dev.selfsup.proto.inference.ServerMetadataResponse;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.PixelType;
import dev.selfsup.proto.v1.RawImage;
import dev.selfsup.service.Refusal;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.smallrye.health.SmallRyeHealthReporter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The Open Inference Protocol (KServe v2) in selfsup's terms, for both of its surfaces (gRPC and REST). A model is an
 * encoder: its one output, {@value #OUTPUT}, is {@code FP32 [N, D]}; its input comes in one of three forms, each a
 * named input of its own so that {@code ModelMetadata} can give its exact datatype and shape. Inference goes
 * through {@link ImageEmbedder}, as {@code Embed} does: the same batcher, limits and vectors.
 */
@ApplicationScoped
public class OpenInference {
    /** Raw pixels, channels last: {@code UINT8 [N, S, S, C]}. */
    public static final String INPUT_UINT8 = "image";
    /** Raw pixels in [0, 1], channels last: {@code FP32 [N, S, S, C]}. */
    public static final String INPUT_FP32 = "image_fp32";
    /** Encoded PNG or JPEG files, resized by the service: {@code BYTES [N]}. */
    public static final String INPUT_BYTES = "image_bytes";
    /** The embeddings: {@code FP32 [N, D]}. */
    public static final String OUTPUT = "embedding";
    /** The request parameter that scales each embedding to unit L2 norm, as Embed's normalize does. */
    public static final String NORMALIZE = "normalize";

    private static final String FORMS = INPUT_UINT8 + " (UINT8 [N, H, W, C]), " + INPUT_FP32
            + " (FP32 [N, H, W, C] in [0, 1]) or " + INPUT_BYTES + " (BYTES [N] of PNG/JPEG files)";

    @Inject
    ModelRegistry registry;

    @Inject
    ImageEmbedder embedder;

    @Inject
    SmallRyeHealthReporter health;

    @ConfigProperty(name = "quarkus.application.version", defaultValue = "dev")
    String serverVersion;

    @ConfigProperty(name = "selfsup.encoder.max-request-images", defaultValue = "256")
    int maxRequestImages;

    /** Ready exactly when /q/health/ready is UP. */
    public boolean serverReady() {
        return !health.getReadiness().isDown();
    }

    public ServerMetadataResponse serverMetadata() {
        return ServerMetadataResponse.newBuilder()
                .setName("selfsup-encoder-service")
                .setVersion(serverVersion)
                .build();
    }

    /** Whether a version can serve now; false for a model or version that does not exist. */
    public boolean modelReady(String name, String version) {
        EncoderCalls.requireModel(name);
        int v = version(version);
        try {
            return registry.get(name, v).state() == ModelRegistry.State.READY;
        } catch (Refusal e) {
            if (e.reason() == Refusal.Reason.NOT_FOUND || e.reason() == Refusal.Reason.WRONG_STATE) {
                return false;
            }
            throw e;
        }
    }

    public ModelMetadataResponse modelMetadata(String name, String version) {
        EncoderCalls.requireModel(name);
        ServedModel m = registry.serving(name, version(version));
        int s = m.spec().imageSize();
        int c = m.spec().channels();
        ModelMetadataResponse.Builder b = ModelMetadataResponse.newBuilder()
                .setName(m.record().name())
                .setPlatform("selfsup")
                .addInputs(tensor(INPUT_UINT8, "UINT8", -1, s, s, c))
                .addInputs(tensor(INPUT_FP32, "FP32", -1, s, s, c))
                .addInputs(tensor(INPUT_BYTES, "BYTES", -1))
                .addOutputs(tensor(OUTPUT, "FP32", -1, m.featureDim()))
                .putProperties("version", Integer.toString(m.record().version()))
                .putProperties("backbone", m.spec().toString())
                .putProperties("inputs", "send exactly one of the inputs; " + FORMS);
        registry.list(name).stream()
                .filter(v -> v.state() == ModelRegistry.State.READY)
                .forEach(v -> b.addVersions(Integer.toString(v.record().version())));
        return b.build();
    }

    private static TensorMetadata tensor(String name, String datatype, long... shape) {
        TensorMetadata.Builder t = TensorMetadata.newBuilder().setName(name).setDatatype(datatype);
        for (long d : shape) {
            t.addShape(d);
        }
        return t.build();
    }

    /**
     * Checks a request, queues its images and answers when their batch has run. Outputs come in
     * {@code raw_output_contents} when the inputs came raw, else as typed contents.
     */
    public CompletableFuture<ModelInferResponse> infer(ModelInferRequest request, BooleanSupplier abandoned) {
        EncoderCalls.requireModel(request.getModelName());
        int version = version(request.getModelVersion());
        if (request.getInputsCount() != 1) {
            throw invalid("inputs has " + request.getInputsCount() + " tensors; send exactly one: " + FORMS);
        }
        for (ModelInferRequest.InferRequestedOutputTensor o : request.getOutputsList()) {
            if (!OUTPUT.equals(o.getName())) {
                throw invalid("outputs names '" + o.getName() + "'; the only output is '" + OUTPUT + "'");
            }
        }
        boolean raw = request.getRawInputContentsCount() > 0;
        if (raw && request.getRawInputContentsCount() != 1) {
            throw invalid("raw_input_contents has " + request.getRawInputContentsCount()
                    + " entries for 1 input; send one entry per input");
        }
        ModelInferRequest.InferInputTensor input = request.getInputs(0);
        if (raw && input.hasContents()) {
            throw invalid("input '" + input.getName() + "' has both contents and raw_input_contents; send one");
        }
        boolean normalize = bool(request.getParametersMap().get(NORMALIZE));
        List<Image> images = images(input, raw ? request.getRawInputContents(0) : null);
        return embedder.embed(request.getModelName(), version, images, input.getName(), normalize, abandoned)
                .thenApply(r -> response(request, r, raw));
    }

    private static ModelInferResponse response(ModelInferRequest request, ImageEmbedder.Result r, boolean raw) {
        ModelInferResponse.InferOutputTensor.Builder out = ModelInferResponse.InferOutputTensor.newBuilder()
                .setName(OUTPUT)
                .setDatatype("FP32")
                .addShape(r.count())
                .addShape(r.dim());
        ModelInferResponse.Builder b = ModelInferResponse.newBuilder()
                .setModelName(r.model())
                .setModelVersion(Integer.toString(r.version()))
                .setId(request.getId());
        float[] v = r.values();
        int n = r.count() * r.dim();
        if (raw) {
            ByteBuffer bytes = ByteBuffer.allocate(n * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            bytes.asFloatBuffer().put(v, 0, n);
            b.addOutputs(out).addRawOutputContents(ByteString.copyFrom(bytes.array()));
        } else {
            InferTensorContents.Builder c = InferTensorContents.newBuilder();
            for (int i = 0; i < n; i++) {
                c.addFp32Contents(v[i]);
            }
            b.addOutputs(out.setContents(c));
        }
        return b.build();
    }

    /** The request's images in the form {@link ImageEmbedder} takes, without copying raw bytes. */
    private List<Image> images(ModelInferRequest.InferInputTensor input, ByteString rawBytes) {
        String name = input.getName();
        String type = input.getDatatype();
        switch (name) {
            case INPUT_UINT8, INPUT_FP32 -> {
                String wanted = INPUT_UINT8.equals(name) ? "UINT8" : "FP32";
                if (!wanted.equals(type)) {
                    throw invalid(
                            "input '" + name + "' is " + wanted + ", got datatype '" + type + "'; inputs are " + FORMS);
                }
                return pixels(input, rawBytes, "FP32".equals(type));
            }
            case INPUT_BYTES -> {
                if (!"BYTES".equals(type)) {
                    throw invalid("input '" + name + "' is BYTES, got datatype '" + type + "'");
                }
                return encoded(input, rawBytes);
            }
            default -> throw invalid("no input named '" + name + "'; inputs are " + FORMS);
        }
    }

    private List<Image> pixels(ModelInferRequest.InferInputTensor input, ByteString rawBytes, boolean floats) {
        List<Long> shape = input.getShapeList();
        if (shape.size() != 4 || shape.stream().anyMatch(d -> d < 1 || d > 1 << 20)) {
            throw invalid("input '" + input.getName() + "' has shape " + shape + "; it must be [N, H, W, C], each at"
                    + " least 1");
        }
        int n = shape.get(0).intValue();
        checkCount(n, input.getName());
        long per = shape.get(1) * shape.get(2) * shape.get(3);
        int elementBytes = floats ? Float.BYTES : 1;
        ByteString data;
        if (rawBytes != null) {
            data = rawBytes;
        } else if (floats) {
            List<Float> f = input.getContents().getFp32ContentsList();
            checkElements(f.size(), n * per, input.getName(), "fp32_contents");
            ByteBuffer b = ByteBuffer.allocate(f.size() * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            f.forEach(b::putFloat);
            data = ByteString.copyFrom(b.array());
        } else {
            List<Integer> u = input.getContents().getUintContentsList();
            checkElements(u.size(), n * per, input.getName(), "uint_contents");
            byte[] b = new byte[u.size()];
            for (int i = 0; i < b.length; i++) {
                int x = u.get(i);
                if (x < 0 || x > 255) {
                    throw invalid("input '" + input.getName() + "': UINT8 values are 0 to 255, uint_contents[" + i
                            + "] is " + Integer.toUnsignedString(x));
                }
                b[i] = (byte) x;
            }
            data = ByteString.copyFrom(b);
        }
        if (data.size() != n * per * elementBytes) {
            throw invalid("input '" + input.getName() + "' of shape " + shape + " needs " + n * per * elementBytes
                    + " bytes of raw_input_contents, got " + data.size());
        }
        List<Image> images = new ArrayList<>(n);
        int bytesPer = (int) per * elementBytes;
        for (int i = 0; i < n; i++) {
            images.add(Image.newBuilder()
                    .setRaw(RawImage.newBuilder()
                            .setHeight(shape.get(1).intValue())
                            .setWidth(shape.get(2).intValue())
                            .setChannels(shape.get(3).intValue())
                            .setType(floats ? PixelType.PIXEL_TYPE_FLOAT32 : PixelType.PIXEL_TYPE_UINT8)
                            .setData(data.substring(i * bytesPer, (i + 1) * bytesPer)))
                    .build());
        }
        return images;
    }

    private List<Image> encoded(ModelInferRequest.InferInputTensor input, ByteString rawBytes) {
        List<Long> shape = input.getShapeList();
        if (shape.size() != 1 || shape.get(0) < 1) {
            throw invalid("input '" + input.getName() + "' has shape " + shape + "; it must be [N], N at least 1");
        }
        long n = shape.get(0);
        checkCount(n, input.getName());
        List<ByteString> files = new ArrayList<>();
        if (rawBytes == null) {
            files.addAll(input.getContents().getBytesContentsList());
        } else {
            // Raw BYTES tensors: each element is a 4-byte little-endian length, then that many bytes.
            ByteBuffer b = rawBytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            while (b.remaining() > 0) {
                if (b.remaining() < 4) {
                    throw invalid("input '" + input.getName() + "': raw BYTES end inside an element's length");
                }
                int len = b.getInt();
                if (len < 0 || len > b.remaining()) {
                    throw invalid("input '" + input.getName() + "': a raw BYTES element claims " + len + " bytes, "
                            + b.remaining() + " remain");
                }
                int at = b.position();
                files.add(rawBytes.substring(at, at + len));
                b.position(at + len);
                if (files.size() > n) {
                    break;
                }
            }
        }
        checkElements(files.size(), n, input.getName(), rawBytes == null ? "bytes_contents" : "raw_input_contents");
        List<Image> images = new ArrayList<>(files.size());
        for (ByteString f : files) {
            images.add(Image.newBuilder().setEncoded(f).build());
        }
        return images;
    }

    private void checkCount(long n, String input) {
        if (n > maxRequestImages) {
            throw invalid("input '" + input + "' has " + n + " images; the limit per request is " + maxRequestImages
                    + " (selfsup.encoder.max-request-images): split the batch");
        }
    }

    private static void checkElements(long got, long wanted, String input, String field) {
        if (got != wanted) {
            throw invalid("input '" + input + "' has " + got + " elements in " + field + "; its shape needs " + wanted);
        }
    }

    /** A protocol version string as selfsup's number: empty is the default version (0). */
    static int version(String version) {
        if (version == null || version.isEmpty()) {
            return 0;
        }
        try {
            int v = Integer.parseInt(version);
            if (v >= 1) {
                return v;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw invalid("model version '" + version + "' is not a version number: give 1, 2, ... or leave it empty"
                + " for the default version");
    }

    private static boolean bool(InferParameter p) {
        if (p == null) {
            return false;
        }
        return switch (p.getParameterChoiceCase()) {
            case BOOL_PARAM -> p.getBoolParam();
            case STRING_PARAM -> Boolean.parseBoolean(p.getStringParam());
            case INT64_PARAM -> p.getInt64Param() != 0;
            default -> throw invalid("parameter '" + NORMALIZE + "' must be a bool");
        };
    }

    private static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
