package dev.selfsup.encoder;

import dev.selfsup.proto.v1.AddToGalleryRequest;
import dev.selfsup.proto.v1.AddToGalleryResponse;
import dev.selfsup.proto.v1.ClearGalleryRequest;
import dev.selfsup.proto.v1.ClearGalleryResponse;
import dev.selfsup.proto.v1.GalleryItem;
import dev.selfsup.proto.v1.Image;
import dev.selfsup.proto.v1.Neighbor;
import dev.selfsup.proto.v1.SearchRequest;
import dev.selfsup.proto.v1.SearchResponse;
import dev.selfsup.proto.v1.SearchResult;
import dev.selfsup.service.GrpcCalls;
import dev.selfsup.service.ImageInputs;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;

/** The gallery calls: add labelled images to a version's gallery, search it, clear it. Run on the call pool. */
final class GalleryCalls {
    private final ModelRegistry registry;
    private final EncoderCalls calls;
    private final int maxRequestImages;

    GalleryCalls(ModelRegistry registry, EncoderCalls calls, int maxRequestImages) {
        this.registry = registry;
        this.calls = calls;
        this.maxRequestImages = maxRequestImages;
    }

    /** Embeds the items and adds them to the version's gallery; answers when they are searchable. */
    void add(AddToGalleryRequest request, StreamObserver<AddToGalleryResponse> out) {
        try {
            EncoderCalls.requireModel(request.getModel());
            ServedModel m = registry.serving(request.getModel(), request.getVersion());
            List<Image> images = new ArrayList<>();
            List<String> ids = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < request.getItemsCount(); i++) {
                GalleryItem item = request.getItems(i);
                if (item.getId().isEmpty()) {
                    throw EncoderCalls.invalid("items[" + i + "].id is empty: every gallery item needs an id");
                }
                if (!seen.add(item.getId())) {
                    throw EncoderCalls.invalid(
                            "items[" + i + "].id '" + item.getId() + "' appears twice in the request");
                }
                images.add(item.getImage());
                ids.add(item.getId());
                labels.add(item.getLabel());
            }
            float[] pixels =
                    ImageInputs.toPixels(images, m.spec().channels(), m.spec().imageSize(), maxRequestImages, "items");
            m.embed(pixels, images.size(), GrpcCalls.abandoned(out)).whenComplete((values, e) -> {
                if (e != null) {
                    calls.fail(out, e);
                    return;
                }
                try {
                    m.gallery().add(ids, labels, values);
                } catch (RuntimeException ex) {
                    calls.fail(out, ex);
                    return;
                }
                out.onNext(AddToGalleryResponse.newBuilder()
                        .setModel(m.record().name())
                        .setVersion(m.record().version())
                        .setGallerySize(m.gallery().size())
                        .build());
                out.onCompleted();
            });
        } catch (RuntimeException e) {
            calls.fail(out, e);
        }
    }

    /** Embeds the queries and answers their nearest gallery items. */
    void search(SearchRequest request, StreamObserver<SearchResponse> out) {
        try {
            EncoderCalls.requireModel(request.getModel());
            if (request.getK() < 0) {
                throw EncoderCalls.invalid("k must be positive (or 0 for the default of 10)");
            }
            int k = request.getK() == 0 ? 10 : request.getK();
            ServedModel m = registry.serving(request.getModel(), request.getVersion());
            if (m.gallery().size() == 0) {
                throw Status.FAILED_PRECONDITION
                        .withDescription("the gallery of " + m.record().name() + " v"
                                + m.record().version() + " is empty; add images with AddToGallery")
                        .asRuntimeException();
            }
            float[] pixels = ImageInputs.toPixels(
                    request.getQueriesList(), m.spec().channels(), m.spec().imageSize(), maxRequestImages, "queries");
            int n = request.getQueriesCount();
            float[] q = m.embed(pixels, n, GrpcCalls.abandoned(out)).get();
            Gallery.Result[] results = m.searchGallery(q, n, k);
            SearchResponse.Builder b = SearchResponse.newBuilder()
                    .setModel(m.record().name())
                    .setVersion(m.record().version());
            for (Gallery.Result r : results) {
                SearchResult.Builder sr = SearchResult.newBuilder();
                r.hits()
                        .forEach(h -> sr.addNeighbors(Neighbor.newBuilder()
                                .setId(h.id())
                                .setLabel(h.label())
                                .setScore(h.score())));
                if (r.predictedLabel() != null) {
                    sr.setPredictedLabel(r.predictedLabel());
                }
                b.addResults(sr);
            }
            out.onNext(b.build());
            out.onCompleted();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            calls.fail(out, Status.CANCELLED.asRuntimeException());
        } catch (ExecutionException e) {
            calls.fail(out, e.getCause());
        } catch (RuntimeException e) {
            calls.fail(out, e);
        }
    }

    /** Empties the version's gallery. */
    ClearGalleryResponse clear(ClearGalleryRequest request) {
        EncoderCalls.requireModel(request.getModel());
        registry.serving(request.getModel(), request.getVersion()).gallery().clear();
        return ClearGalleryResponse.getDefaultInstance();
    }
}
