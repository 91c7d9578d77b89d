package dev.selfsup.cli;

import dev.selfsup.proto.v1.AddToGalleryRequest;
import dev.selfsup.proto.v1.ClearGalleryRequest;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.GalleryItem;
import dev.selfsup.proto.v1.Neighbor;
import dev.selfsup.proto.v1.SearchRequest;
import dev.selfsup.proto.v1.SearchResult;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code selfsup gallery add|search|clear}: a served model's gallery of embedded images, searched by image. Images
 * go in requests of at most {@link #REQUEST_IMAGES} (the service's default bound per call).
 */
@Command(
        name = "gallery",
        description = "A served model's gallery: add images (with ids and labels), search it by image, clear it.",
        subcommands = {GalleryCommands.Add.class, GalleryCommands.Search.class, GalleryCommands.Clear.class})
final class GalleryCommands implements Callable<Integer> {
    /** Images per request: selfsup.encoder.max-request-images's default. */
    static final int REQUEST_IMAGES = 256;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    /**
     * The served model a command works on (embed, gallery), with its own help option: the standard ones would take
     * --version, which here is the model's version.
     */
    static final class ModelChoice {
        @Option(
                names = {"-h", "--help"},
                usageHelp = true,
                description = "Show this help message and exit.")
        boolean help;

        @Option(names = "--model", required = true, description = "the served model's name (see 'selfsup models')")
        String model;

        @Option(names = "--version", description = "model version (default: the default version)")
        int version;
    }

    @Command(name = "add", description = "Embed images and add them to the model's gallery, each under its name.")
    static final class Add extends Selfsup.EncoderWriter {
        @CommandLine.Mixin
        ModelChoice choice;

        @CommandLine.Mixin
        ImageArgs images;

        @Option(names = "--labels-from-folders", description = "label each file with the name of its folder")
        boolean labelsFromFolders;

        @Override
        int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) throws Exception {
            List<ImageArgs.Named> all = images.load();
            long size = 0;
            for (int from = 0; from < all.size(); from += REQUEST_IMAGES) {
                var req =
                        AddToGalleryRequest.newBuilder().setModel(choice.model).setVersion(choice.version);
                for (ImageArgs.Named image : all.subList(from, Math.min(all.size(), from + REQUEST_IMAGES))) {
                    req.addItems(GalleryItem.newBuilder()
                            .setId(image.name())
                            .setImage(image.image())
                            .setLabel(labelsFromFolders ? image.folder() : ""));
                }
                size = stub.addToGallery(req.build()).getGallerySize();
            }
            System.out.printf("%s: added %d images; the gallery holds %d%n", choice.model, all.size(), size);
            return 0;
        }
    }

    @Command(name = "search", description = "The gallery images nearest each query image, most similar first.")
    static final class Search extends Selfsup.EncoderBase {
        @CommandLine.Mixin
        ModelChoice choice;

        @CommandLine.Mixin
        ImageArgs images;

        @Option(names = "--k", defaultValue = "5", description = "neighbours per query")
        int k;

        @Override
        int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) throws Exception {
            List<ImageArgs.Named> all = images.load();
            for (int from = 0; from < all.size(); from += REQUEST_IMAGES) {
                List<ImageArgs.Named> part = all.subList(from, Math.min(all.size(), from + REQUEST_IMAGES));
                var req = SearchRequest.newBuilder()
                        .setModel(choice.model)
                        .setVersion(choice.version)
                        .setK(k);
                part.forEach(image -> req.addQueries(image.image()));
                List<SearchResult> results = stub.search(req.build()).getResultsList();
                for (int i = 0; i < part.size(); i++) {
                    SearchResult r = results.get(i);
                    System.out.println(part.get(i).name()
                            + (r.getPredictedLabel().isEmpty() ? "" : "  predicted: " + r.getPredictedLabel()));
                    for (Neighbor n : r.getNeighborsList()) {
                        System.out.printf(
                                Locale.ROOT,
                                "  %.4f  %s%s%n",
                                n.getScore(),
                                n.getId(),
                                n.getLabel().isEmpty() ? "" : "  (" + n.getLabel() + ")");
                    }
                }
            }
            return 0;
        }
    }

    @Command(name = "clear", description = "Remove every image from the model's gallery.")
    static final class Clear extends Selfsup.EncoderWriter {
        @CommandLine.Mixin
        ModelChoice choice;

        @Override
        int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) {
            stub.clearGallery(ClearGalleryRequest.newBuilder()
                    .setModel(choice.model)
                    .setVersion(choice.version)
                    .build());
            System.out.println(choice.model + ": gallery cleared");
            return 0;
        }
    }
}
