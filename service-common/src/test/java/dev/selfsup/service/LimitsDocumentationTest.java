package dev.selfsup.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The bounds table of docs/limits.md against the code: every key it lists exists, with the default it gives, in a
 * service's {@code application.properties} (which wins) or a {@code @ConfigProperty} default. A bound changed in
 * the code without the docs, or the docs without the code, fails here.
 */
class LimitsDocumentationTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final List<String> SERVICES =
            List.of("service-common", "encoder-service", "trainer-service", "tokenizer-service");
    private static final Pattern CONFIG_PROPERTY =
            Pattern.compile("@ConfigProperty\\(\\s*name\\s*=\\s*\"([^\"]+)\",\\s*defaultValue\\s*=\\s*\"([^\"]*)\"");
    private static final Pattern TICKED = Pattern.compile("`([^`]+)`");

    @Test
    void everyDocumentedBoundHasItsDocumentedDefault() throws IOException {
        Map<String, String> defaults = configuredDefaults();
        Map<String, String> documented = documentedBounds();
        assertTrue(documented.size() >= 15, "the table was read: " + documented.keySet());
        List<String> wrong = new ArrayList<>();
        documented.forEach((key, value) -> {
            String actual = defaults.get(key);
            if (!value.equals(actual)) {
                wrong.add(key + ": the docs say " + value + ", the code "
                        + (actual == null ? "has no such key" : actual));
            }
        });
        assertEquals(List.of(), wrong, "docs/limits.md against the code");
    }

    /** key -> default from the bounds table; "`a`, `b`" rows name a key and a sibling sharing its prefix. */
    private static Map<String, String> documentedBounds() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        boolean inTable = false;
        for (String line : Files.readAllLines(ROOT.resolve("docs/limits.md"))) {
            if (line.startsWith("## The bounds")) {
                inTable = true;
                continue;
            }
            if (inTable && line.startsWith("## ")) {
                break;
            }
            if (!inTable || !line.startsWith("| `")) {
                continue;
            }
            String[] cells = line.split("\\|");
            List<String> keys = ticked(cells[1]);
            List<String> values = ticked(cells[2]);
            String first = keys.get(0);
            String prefix = first.substring(0, first.lastIndexOf('.') + 1);
            for (int i = 0; i < keys.size(); i++) {
                String key = keys.get(i).contains(".") ? keys.get(i) : prefix + keys.get(i);
                out.put(key, values.get(i));
            }
        }
        return out;
    }

    private static List<String> ticked(String cell) {
        List<String> out = new ArrayList<>();
        Matcher m = TICKED.matcher(cell);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** Defaults from the annotations, overridden by the services' application.properties (not their profiles). */
    private static Map<String, String> configuredDefaults() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (String service : SERVICES) {
            Path sources = ROOT.resolve(service).resolve("src/main/java");
            try (Stream<Path> files = Files.walk(sources)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                    Matcher m = CONFIG_PROPERTY.matcher(Files.readString(f));
                    while (m.find()) {
                        out.put(m.group(1), m.group(2));
                    }
                }
            }
        }
        for (String service : SERVICES) {
            Path file = ROOT.resolve(service).resolve("src/main/resources/application.properties");
            if (Files.exists(file)) {
                Properties p = new Properties();
                try (var in = Files.newBufferedReader(file)) {
                    p.load(in);
                }
                p.stringPropertyNames().forEach(k -> out.put(k, p.getProperty(k)));
            }
        }
        return out;
    }
}
