package dev.selfsup.core.method;

import dev.selfsup.core.tokenizer.VisualTokenSource;
import java.util.function.Function;

/**
 * What a method may need from outside the training process. BEiT needs a source of visual tokens by tokenizer
 * name: the trainer-service gives one that asks the tokenizer-service, tests and benchmarks a local tokenizer.
 *
 * @param tokenizers a token source for a tokenizer name; throws {@link UnsuitableDataException} (or
 *     IllegalArgumentException) with a clear message if there is no such tokenizer
 */
public record MethodResources(Function<String, VisualTokenSource> tokenizers) {
    /** No outside resources: BEiT cannot run. */
    public static final MethodResources NONE = new MethodResources(name -> {
        throw new UnsuitableDataException(
                "BEiT needs a visual tokenizer ('" + name + "'), and no tokenizer source is " + "configured");
    });

    VisualTokenSource tokenSource(String name) {
        return tokenizers.apply(name);
    }
}
