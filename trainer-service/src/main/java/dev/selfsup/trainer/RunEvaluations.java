package dev.selfsup.trainer;

import ai.djl.ndarray.NDManager;
import dev.selfsup.core.data.ImageDataset;
import dev.selfsup.core.engine.Devices;
import dev.selfsup.core.eval.EvaluationReport;
import dev.selfsup.core.eval.Evaluator;
import dev.selfsup.core.eval.KnnClassifier;
import dev.selfsup.core.eval.LinearProbe;
import dev.selfsup.core.train.EncoderBundle;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.EvalResult;
import dev.selfsup.proto.v1.EvalSpec;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.service.DataRoot;
import io.grpc.Status;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Path;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * kNN and linear probe of a run's newest exported encoder on a labelled split: by default the run's own dataset,
 * its train split to fit and its test split to score. The result is kept as the run's {@code last_eval}.
 */
@ApplicationScoped
public class RunEvaluations {
    @Inject
    DataRoot data;

    @Inject
    RunTable table;

    /** Evaluation features of one split held in memory at most; larger ones are written to var/tmp and streamed. */
    @ConfigProperty(name = "selfsup.eval.features-in-memory-mb", defaultValue = "1024")
    long evalFeaturesInMemoryMb;

    @ConfigProperty(name = "selfsup.var-dir", defaultValue = "var")
    Path varDir;

    /** Evaluates the encoder in {@code file} of run {@code h}. Blocking: call off the event loop. */
    EvalResult evaluate(RunTable.Handle h, Path file, EvalSpec spec) {
        DatasetRef base = h.run.getSpec().getDataset().toBuilder().setLimit(0).build();
        DatasetRef trainRef = spec.hasTrain()
                ? spec.getTrain()
                : base.toBuilder().setSplit("train").build();
        DatasetRef testRef = spec.hasTest()
                ? spec.getTest()
                : base.toBuilder().setSplit("test").build();
        ImageDataset train = data.load(trainRef, "train");
        ImageDataset test = data.load(testRef, "test");
        if (!train.hasLabels() || !test.hasLabels()) {
            throw Status.FAILED_PRECONDITION
                    .withDescription("evaluation needs labels; dataset '"
                            + shown(train.hasLabels() ? testRef : trainRef) + "' has none")
                    .asRuntimeException();
        }
        int k = spec.hasKnnK() ? spec.getKnnK() : 200;
        float t = spec.hasKnnTemperature() ? spec.getKnnTemperature() : 0.1f;
        if (k <= 0 || t <= 0) {
            throw RunSpecs.invalid("knn_k and knn_temperature must be positive");
        }
        long t0 = System.nanoTime();
        try (NDManager m = NDManager.newBaseManager(Devices.choose(devicePreference(h.run)))) {
            EncoderBundle.Loaded enc = EncoderBundle.read(file, m);
            if (enc.header().backbone().channels() != train.channels()
                    || enc.header().backbone().imageSize() != train.height()) {
                throw Status.INVALID_ARGUMENT
                        .withDescription("the encoder takes "
                                + enc.header().backbone().channels()
                                + "x" + enc.header().backbone().imageSize() + " images, the evaluation data has "
                                + train.channels() + "x" + train.height())
                        .asRuntimeException();
            }
            EvaluationReport r = new Evaluator(
                            new KnnClassifier(k, t),
                            new LinearProbe(),
                            evalFeaturesInMemoryMb << 20,
                            varDir.resolve("tmp"))
                    .evaluate(enc.encoder(), train, test, m);
            EvalResult result = EvalResult.newBuilder()
                    .setKnnAccuracy(r.knnAccuracy())
                    .setLinearAccuracy(r.linearAccuracy())
                    .setFeatureDim(r.featureDim())
                    .setTrainImages(r.trainImages())
                    .setTestImages(r.testImages())
                    .setStep(enc.header().provenance().steps())
                    .setDuration(RunTable.duration(System.nanoTime() - t0))
                    .build();
            synchronized (table) {
                table.update(h, h.run.toBuilder().setLastEval(result).build());
            }
            return result;
        } catch (IOException e) {
            throw EncoderChunks.unreadable(h.id(), e);
        }
    }

    private static String devicePreference(Run r) {
        return switch (r.getSpec().getDevice()) {
            case DEVICE_PREFERENCE_CPU -> "cpu";
            case DEVICE_PREFERENCE_GPU -> "gpu";
            default -> "auto";
        };
    }

    private static String shown(DatasetRef ref) {
        return ref.getUploaded().isEmpty() ? ref.getPath() : ref.getUploaded();
    }
}
