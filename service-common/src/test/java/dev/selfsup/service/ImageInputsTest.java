package dev.selfsup.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.selfsup.proto.v1.Image;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What a request may cost is counted in the model's input bytes, before any of it is allocated. */
class ImageInputsTest {
    @AfterEach
    void defaults() {
        ImageInputs.configure(16_777_216L, 67_108_864L, ImageInputs.DEFAULT_MAX_REQUEST_INPUT_BYTES);
    }

    @Test
    void tinyImagesForALargeModelAreRefusedByTheirInputSize() {
        ImageInputs.configure(16_777_216L, 67_108_864L, 1L << 20);
        // Ten images of a few bytes each (never decoded) against a 224 px RGB model: 5.7 MiB of floats.
        Image tiny = Image.newBuilder()
                .setEncoded(ByteString.copyFromUtf8("not even an image"))
                .build();
        List<Image> images = Collections.nCopies(10, tiny);
        StatusRuntimeException e =
                assertThrows(StatusRuntimeException.class, () -> ImageInputs.toPixels(images, 3, 224, 256, "images"));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        assertTrue(
                e.getStatus().getDescription().contains("5 MiB of pixels; the limit per request is 1 MiB")
                        && e.getStatus().getDescription().contains("selfsup.max-request-input-bytes")
                        && e.getStatus().getDescription().contains("send at most 1 images"),
                e.getStatus().getDescription());
        // Within the bound, the images are read (and this one is refused for what it is).
        StatusRuntimeException one = assertThrows(
                StatusRuntimeException.class, () -> ImageInputs.toPixels(images.subList(0, 1), 3, 224, 256, "images"));
        assertEquals(
                Status.Code.INVALID_ARGUMENT,
                one.getStatus().getCode(),
                one.getStatus().toString());
    }
}
