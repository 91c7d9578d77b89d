package dev.selfsup.cli;

import com.google.protobuf.ByteString;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.PixelType;
import dev.selfsup.proto.v1.RawImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The images a command sends: PNG or JPEG files, and the first images of an IDX file. */
final class ImageArgs {
    /** One image with the name it is shown and stored under, and the name of the folder it came from. */
    record Named(String name, Image image, String folder) {}

    @Option(names = "--idx", description = "IDX images file (plain or .gz), e.g. Fashion-MNIST's test set")
    Path idx;

    @Option(names = "--count", defaultValue = "5", description = "images to take from --idx")
    int count;

    @Parameters(paramLabel = "IMAGE", arity = "0..*", description = "PNG or JPEG files")
    List<Path> files = new ArrayList<>();

    /**
     * The images, files first.
     *
     * @throws IllegalArgumentException when there are none
     */
    List<Named> load() throws IOException {
        List<Named> out = new ArrayList<>();
        for (Path f : files) {
            Path parent = f.toAbsolutePath().getParent();
            out.add(new Named(
                    f.toString(),
                    Image.newBuilder()
                            .setEncoded(ByteString.copyFrom(Files.readAllBytes(f)))
                            .build(),
                    parent == null || parent.getFileName() == null
                            ? ""
                            : parent.getFileName().toString()));
        }
        if (idx != null) {
            IdxImages d = IdxImages.read(idx, count);
            int bytes = d.height() * d.width();
            for (int i = 0; i < d.count(); i++) {
                // IDX images are grey, so CHW and HWC are the same bytes.
                Image image = Image.newBuilder()
                        .setRaw(RawImage.newBuilder()
                                .setHeight(d.height())
                                .setWidth(d.width())
                                .setChannels(1)
                                .setType(PixelType.PIXEL_TYPE_UINT8)
                                .setData(ByteString.copyFrom(d.pixels(), i * bytes, bytes)))
                        .build();
                out.add(new Named(idx.getFileName() + "#" + i, image, ""));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("give image files or --idx");
        }
        return out;
    }
}
