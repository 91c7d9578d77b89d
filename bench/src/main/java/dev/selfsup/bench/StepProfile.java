package dev.selfsup.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import dev.selfsup.core.augment.AugmentationPipeline;
import dev.selfsup.core.method.SimClr;
import dev.selfsup.core.model.BackboneSpec;
import dev.selfsup.core.nn.Losses;
import dev.selfsup.core.optim.GradientOptimizer;
import java.util.Arrays;
import java.util.Random;

/**
 * Splits a SimCLR step into its parts and times each (median of 20 after 5 warm-up runs): the two augmented
 * views, forward, backward, optimizer update. Shows whether the step is dominated by the native network code.
 * Usage: StepProfile [batch] [width] [depth]
 */
public final class StepProfile {
    public static void main(String[] args) {
        int batch = args.length > 0 ? Integer.parseInt(args[0]) : 256;
        int width = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int depth = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        BackboneSpec spec =
                new BackboneSpec("small-convnet", width, depth, 1, 28, new float[] {0.286f}, new float[] {0.353f});
        var views = AugmentationPipeline.contrastive(1, 28, 0.2, 0.5);
        SimClr m = new SimClr(spec, views, 512, 128, 0.2f);
        try (NDManager root = NDManager.newBaseManager(Device.cpu())) {
            m.initialize(root, new Shape(1, 28, 28));
            GradientOptimizer opt = GradientOptimizer.create("lars", 0.9f, 1e-5f, 0f);
            opt.init(m.trainable().getParameters(), root);
            ParameterStore ps = new ParameterStore(root, false);
            NDArray images = root.randomUniform(0f, 1f, new Shape(batch, 1, 28, 28));
            int runs = 25;
            double[][] t = new double[4][runs];
            Random rng = new Random(1);
            for (int r = 0; r < runs; r++) {
                try (NDManager sm = root.newSubManager();
                        NDScope scope = new NDScope()) {
                    NDArray x = images.duplicate();
                    x.attach(sm);
                    long a = System.nanoTime();
                    NDArray both = views.apply(x, rng).concat(views.apply(x, rng), 0);
                    long b = System.nanoTime();
                    long c;
                    long d;
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray z = m.trainable()
                                .forward(ps, new NDList(both), true)
                                .singletonOrThrow();
                        NDArray loss = Losses.ntXent(z.get("0:" + batch), z.get(batch + ":"), 0.2f);
                        loss.getFloat();
                        c = System.nanoTime();
                        gc.backward(loss);
                        d = System.nanoTime();
                    }
                    opt.step(0.1f);
                    long e = System.nanoTime();
                    t[0][r] = (b - a) / 1e6;
                    t[1][r] = (c - b) / 1e6;
                    t[2][r] = (d - c) / 1e6;
                    t[3][r] = (e - d) / 1e6;
                }
            }
            String[] names = {"augment (2 views)", "forward + loss", "backward", "optimizer"};
            double total = 0;
            double[] med = new double[4];
            for (int i = 0; i < 4; i++) {
                double[] s = Arrays.copyOfRange(t[i], 5, runs);
                Arrays.sort(s);
                med[i] = s[s.length / 2];
                total += med[i];
            }
            for (int i = 0; i < 4; i++) {
                System.out.printf("%-20s %8.1f ms  %5.1f%%%n", names[i], med[i], 100 * med[i] / total);
            }
            System.out.printf("%-20s %8.1f ms  => %.0f images/s%n", "step", total, batch / (total / 1000));
        }
    }
}
