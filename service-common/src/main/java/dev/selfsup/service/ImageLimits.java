package dev.selfsup.service;

import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The bounds of decoding images from requests, from configuration: {@code selfsup.max-image-pixels} (one image,
 * read from its header before any pixel is decoded), {@code selfsup.max-decoding-pixels} (all calls at once) and
 * {@code selfsup.max-request-input-bytes} (the model input one request may make).
 */
@Startup
@ApplicationScoped
public class ImageLimits {
    @ConfigProperty(name = "selfsup.max-image-pixels", defaultValue = "16777216")
    long maxImagePixels;

    @ConfigProperty(name = "selfsup.max-decoding-pixels", defaultValue = "67108864")
    long maxDecodingPixels;

    @ConfigProperty(name = "selfsup.max-request-input-bytes", defaultValue = "67108864")
    long maxRequestInputBytes;

    /** The most pixels one image may have (a method: fields of a CDI proxy read as defaults). */
    public long maxImagePixels() {
        return maxImagePixels;
    }

    @PostConstruct
    void apply() {
        ImageInputs.configure(maxImagePixels, maxDecodingPixels, maxRequestInputBytes);
    }
}
