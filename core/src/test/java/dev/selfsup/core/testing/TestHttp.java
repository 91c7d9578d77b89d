package dev.selfsup.core.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/** Plain HTTP GETs of a service's endpoints (health, metrics) for the tests of every module. */
public final class TestHttp {
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    private TestHttp() {}

    /** GETs {@code url}; the body as text. */
    public static HttpResponse<String> get(String url) throws IOException, InterruptedException {
        return CLIENT.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
