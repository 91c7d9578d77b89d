package dev.selfsup.core.nn;

import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;

/** The MLP classifiers of the pretext tasks: Linear, batch norm, ReLU, Linear to the task's classes. */
public final class ClassifierHead {
    private ClassifierHead() {}

    /** Linear ({@code hidden}, no bias), batch norm, ReLU, Linear ({@code classes}). */
    public static SequentialBlock mlp(int hidden, int classes) {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(hidden).optBias(false).build())
                .add(new BatchNorm())
                .add(Activation.reluBlock())
                .add(Linear.builder().setUnits(classes).build());
    }

    /** The last layer of a head made by {@link #mlp}. */
    public static Block last(SequentialBlock head) {
        var children = head.getChildren().values();
        return children.get(children.size() - 1);
    }
}
