package dev.selfsup.bench;

import com.google.protobuf.ByteString;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.PixelType;
import dev.selfsup.proto.v1.RawImage;

/** Request images as raw 8-bit pixels, channels last, as the benches and checks send them. */
final class RawImages {
    private RawImages() {}

    /** {@code length} bytes of {@code pixels} from {@code offset}: one h x w image of c channels. */
    static Image of(int h, int w, int c, byte[] pixels, int offset, int length) {
        return Image.newBuilder()
                .setRaw(RawImage.newBuilder()
                        .setHeight(h)
                        .setWidth(w)
                        .setChannels(c)
                        .setType(PixelType.PIXEL_TYPE_UINT8)
                        .setData(ByteString.copyFrom(pixels, offset, length)))
                .build();
    }
}
