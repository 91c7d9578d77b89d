package dev.selfsup.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.selfsup.core.io.Json;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;

/**
 * Turns the learning-curve lines of {@link SslCurves} into two pictures (kNN accuracy against training time and
 * against images seen, baselines as dashed lines) and a Markdown table. A label recorded twice keeps its last run.
 */
final class CurveReport {
    private static final Color[] PALETTE = {
        new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
        new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf),
        new Color(0xbcbd22), new Color(0x7f7f7f)
    };

    /** One method's run: its points in order and its summary line. */
    record Curve(String label, List<JsonNode> points, JsonNode run) {}

    private CurveReport() {}

    static void write(Path lines, Path outDir) throws IOException {
        Map<String, List<JsonNode>> pending = new LinkedHashMap<>();
        Map<String, Curve> curves = new LinkedHashMap<>();
        Map<String, JsonNode> baselines = new LinkedHashMap<>();
        Map<String, JsonNode> skipped = new LinkedHashMap<>();
        String cpu = "";
        for (String line : Files.readAllLines(lines, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode n = Json.MAPPER.readTree(line);
            String kind = n.path("kind").asText();
            String label = n.path("label").asText(n.path("name").asText());
            cpu = n.path("cpu").asText(cpu);
            switch (kind) {
                case "point" ->
                    pending.computeIfAbsent(label, k -> new ArrayList<>()).add(n);
                case "run" -> {
                    curves.remove(label);
                    curves.put(label, new Curve(label, pending.remove(label), n));
                }
                case "baseline" -> baselines.put(label, n);
                case "skipped" -> skipped.put(label, n);
                default -> {}
            }
        }
        ImageIO.write(
                chart(curves, baselines, p -> p.path("seconds").asDouble() / 60, "training time (minutes)", false, cpu),
                "png",
                outDir.resolve("curves-time.png").toFile());
        ImageIO.write(
                chart(
                        curves,
                        baselines,
                        p -> p.path("images_seen").asDouble() / 1e6,
                        "images seen (millions, log scale)",
                        true,
                        cpu),
                "png",
                outDir.resolve("curves-images.png").toFile());
        Files.writeString(outDir.resolve("table.md"), table(curves, baselines, skipped, cpu), StandardCharsets.UTF_8);
        System.err.println("wrote curves-time.png, curves-images.png and table.md to " + outDir);
    }

    static String table(
            Map<String, Curve> curves, Map<String, JsonNode> baselines, Map<String, JsonNode> skipped, String cpu) {
        StringBuilder s = new StringBuilder();
        s.append("| method | backbone | batch | epochs | train time | images/s | kNN | linear | peak RSS |\n");
        s.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        curves.values().stream()
                .sorted((a, b) -> Double.compare(
                        b.run().path("knn").asDouble(), a.run().path("knn").asDouble()))
                .forEach(c -> {
                    JsonNode r = c.run();
                    s.append(String.format(
                            Locale.ROOT,
                            "| %s | %s | %d | %.2f | %s | %,.0f | %.2f%% | %.2f%% | %.2f GB |%n",
                            c.label(),
                            shortBackbone(r.path("backbone").asText()),
                            r.path("batch_size").asInt(),
                            r.path("epochs").asDouble(),
                            minutes(r.path("train_seconds").asDouble()),
                            r.path("images_per_second").asDouble(),
                            100 * r.path("knn").asDouble(),
                            100 * r.path("linear").asDouble(),
                            r.path("peak_rss_bytes").asDouble() / 1e9));
                });
        baselines.forEach((name, b) -> s.append(String.format(
                Locale.ROOT,
                "| %s (baseline) | | | | | | %.2f%% | %.2f%% | |%n",
                name,
                100 * b.path("knn").asDouble(),
                100 * b.path("linear").asDouble())));
        skipped.forEach((name, k) -> s.append(String.format(
                "| %s | not run: %s | | | | | | | |%n", name, k.path("reason").asText())));
        s.append("\nCPU: ").append(cpu).append('\n');
        return s.toString();
    }

    private static String minutes(double seconds) {
        return String.format(Locale.ROOT, "%d:%02d", (long) seconds / 60, (long) seconds % 60);
    }

    /** The backbone's type and width, without the normalisation statistics the full description carries. */
    private static String shortBackbone(String full) {
        int cut = full.indexOf(" mean");
        return cut < 0 ? full : full.substring(0, cut);
    }

    static BufferedImage chart(
            Map<String, Curve> curves,
            Map<String, JsonNode> baselines,
            ToDoubleFunction<JsonNode> x,
            String xTitle,
            boolean logX,
            String cpu) {
        int w = 1100;
        int h = 680;
        int left = 80;
        int right = 250;
        int top = 50;
        int bottom = 70;
        double xMax = 0;
        double xMin = Double.MAX_VALUE;
        double yMin = 1;
        double yMax = 0;
        for (Curve c : curves.values()) {
            for (JsonNode p : c.points()) {
                xMax = Math.max(xMax, x.applyAsDouble(p));
                xMin = Math.min(xMin, x.applyAsDouble(p));
                yMin = Math.min(yMin, p.path("knn").asDouble());
                yMax = Math.max(yMax, p.path("knn").asDouble());
            }
        }
        for (JsonNode b : baselines.values()) {
            yMin = Math.min(yMin, b.path("knn").asDouble());
            yMax = Math.max(yMax, b.path("knn").asDouble());
        }
        // Methods differ 100-fold in images per second (patches against whole images): a log axis keeps them
        // all readable by images seen; time is linear.
        List<Double> ticks = new ArrayList<>();
        double xLo;
        double xHi;
        if (logX) {
            xLo = Math.pow(10, Math.floor(Math.log10(Math.max(xMin, 1e-6))));
            xHi = Math.pow(10, Math.ceil(Math.log10(Math.max(xMax, 1e-6) * 1.0001)));
            for (double d = xLo; d <= xHi * 1.0001; d *= 10) {
                for (double m : new double[] {1, 2, 5}) {
                    if (d * m <= xHi * 1.0001) {
                        ticks.add(d * m);
                    }
                }
            }
        } else {
            xLo = 0;
            xHi = niceCeil(Math.max(xMax, 1e-3));
            for (int i = 0; i <= 5; i++) {
                ticks.add(xHi * i / 5);
            }
        }
        ToDoubleFunction<Double> at =
                logX ? v -> Math.log(v / xLo) / Math.log(xHi / xLo) : v -> (v - xLo) / (xHi - xLo);
        double y0 = Math.floor(yMin * 50) / 50;
        double y1 = Math.ceil(yMax * 50) / 50;
        if (y1 <= y0) {
            y1 = y0 + 0.02;
        }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        int pw = w - left - right;
        int ph = h - top - bottom;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        // Grid and ticks.
        for (double v : ticks) {
            int px = left + (int) Math.round(pw * at.applyAsDouble(v));
            g.setColor(new Color(0xe6e6e6));
            g.drawLine(px, top, px, top + ph);
            g.setColor(Color.DARK_GRAY);
            g.drawString(format(v), px - 12, top + ph + 20);
        }
        double yStep = (y1 - y0) > 0.1 ? 0.02 : 0.01;
        for (double v = y0; v <= y1 + 1e-9; v += yStep) {
            int py = top + ph - (int) Math.round(ph * (v - y0) / (y1 - y0));
            g.setColor(new Color(0xe6e6e6));
            g.drawLine(left, py, left + pw, py);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, "%.0f%%", v * 100), left - 45, py + 5);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        g.drawString(xTitle, left + pw / 2 - 60, h - 25);
        g.drawString("kNN accuracy (k=200), Fashion-MNIST test", left, top - 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.drawString(cpu, left, top - 10);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        int legendY = top + 10;
        int k = 0;
        final double fy0 = y0;
        final double fy1 = y1;
        for (Curve c : curves.values()) {
            Color col = PALETTE[k++ % PALETTE.length];
            g.setColor(col);
            g.setStroke(new BasicStroke(2.2f));
            int prevX = -1;
            int prevY = -1;
            for (JsonNode p : c.points()) {
                int px = left + (int) Math.round(pw * at.applyAsDouble(x.applyAsDouble(p)));
                int py = top + ph - (int) Math.round(ph * (p.path("knn").asDouble() - fy0) / (fy1 - fy0));
                g.fillOval(px - 4, py - 4, 8, 8);
                if (prevX >= 0) {
                    g.drawLine(prevX, prevY, px, py);
                }
                prevX = px;
                prevY = py;
            }
            g.drawLine(left + pw + 15, legendY, left + pw + 40, legendY);
            g.setColor(Color.BLACK);
            g.drawString(c.label(), left + pw + 46, legendY + 5);
            legendY += 22;
        }
        g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {8f, 6f}, 0f));
        for (Map.Entry<String, JsonNode> b : baselines.entrySet()) {
            g.setColor(Color.GRAY);
            int py = top + ph - (int) Math.round(ph * (b.getValue().path("knn").asDouble() - fy0) / (fy1 - fy0));
            g.drawLine(left, py, left + pw, py);
            g.drawLine(left + pw + 15, legendY, left + pw + 40, legendY);
            g.setColor(Color.BLACK);
            g.drawString(b.getKey(), left + pw + 46, legendY + 5);
            legendY += 22;
        }
        g.dispose();
        return img;
    }

    private static String format(double v) {
        if (v == Math.rint(v)) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        return v >= 0.1 ? String.format(Locale.ROOT, "%.1f", v) : String.format(Locale.ROOT, "%.2g", v);
    }

    /** The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 or 8 times a power of ten) at least v. */
    private static double niceCeil(double v) {
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8, 10}) {
            if (m * p >= v) {
                return m * p;
            }
        }
        return 10 * p;
    }
}
