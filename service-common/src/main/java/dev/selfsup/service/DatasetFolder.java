package dev.selfsup.service;

import dev.selfsup.core.io.AtomicFiles;
import dev.selfsup.core.io.Json;
import dev.selfsup.service.DatasetStore.FileRow;
import dev.selfsup.service.DatasetStore.Info;
import dev.selfsup.service.DatasetStore.SplitCount;
import dev.selfsup.service.DatasetStore.State;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.jboss.logging.Logger;

/**
 * One uploaded dataset on disk: {@code dataset.json}, {@code files.tsv} and {@code images/SPLIT[/LABEL]/NAME}; read
 * back after a crash with whatever was not both in place and listed removed.
 */
final class DatasetFolder {
    private static final Logger LOG = Logger.getLogger(DatasetFolder.class);

    private DatasetFolder() {}

    /** A dataset read from disk: its info, and its files by key while it is open (null once sealed). */
    record Loaded(Info info, TreeMap<String, FileRow> rows) {}

    static Loaded load(Path d) throws IOException {
        Info info = Json.MAPPER.readValue(d.resolve("dataset.json").toFile(), Info.class);
        deleteTree(d.resolve(".partial"));
        if (info.state() == State.READY) {
            return new Loaded(info, null);
        }
        // Open: the list is the truth for what arrived whole; files not on it, and lines whose file is gone, go.
        TreeMap<String, FileRow> rows = new TreeMap<>();
        Path list = d.resolve("files.tsv");
        if (Files.exists(list)) {
            try (BufferedReader r = Files.newBufferedReader(list, StandardCharsets.UTF_8)) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.isEmpty()) {
                        continue;
                    }
                    try {
                        FileRow row = FileRow.parse(line);
                        rows.put(row.key(), row);
                    } catch (RuntimeException bad) {
                        LOG.warnf("%s: skipping a malformed line (a write cut short)", list);
                    }
                }
            }
        }
        rows.values().removeIf(row -> !Files.isRegularFile(imagePath(d, row)));
        Path images = d.resolve("images");
        if (Files.isDirectory(images)) {
            try (var walk = Files.walk(images)) {
                for (Path f : walk.filter(Files::isRegularFile).toList()) {
                    if (!rows.containsKey(keyOf(images.relativize(f)))) {
                        LOG.infof("%s: removing %s, which was not listed (an upload cut short)", d, f);
                        Files.deleteIfExists(f);
                    }
                }
            }
        }
        Info counted = counted(info, rows);
        rewriteList(d, rows);
        return new Loaded(counted, rows);
    }

    private static String keyOf(Path rel) {
        String split = rel.getName(0).toString();
        String label = rel.getNameCount() == 3 ? rel.getName(1).toString() : "";
        return split + '\u0000' + label + '\u0000' + rel.getFileName();
    }

    /** {@code base} with its counts taken from {@code rows}. */
    static Info counted(Info base, TreeMap<String, FileRow> rows) {
        Map<String, SplitCount> splits = new LinkedHashMap<>();
        long files = 0;
        long bytes = 0;
        for (FileRow r : rows.values()) {
            SplitCount c = splits.getOrDefault(r.split(), new SplitCount(0, 0, new TreeMap<>()));
            c.labels().merge(r.label(), 1L, Long::sum);
            splits.put(r.split(), new SplitCount(c.files() + 1, c.bytes() + r.size(), c.labels()));
            files++;
            bytes += r.size();
        }
        return new Info(
                base.name(),
                base.description(),
                base.state(),
                files,
                bytes,
                splits,
                base.sha256(),
                base.createdAt(),
                base.sealedAt());
    }

    static Path imagePath(Path dataset, FileRow r) {
        Path p = dataset.resolve("images").resolve(r.split());
        return (r.label().isEmpty() ? p : p.resolve(r.label())).resolve(r.name());
    }

    static void writeInfo(Path d, Info info) throws IOException {
        Path tmp = AtomicFiles.tempBeside(d.resolve("dataset.json"));
        Files.writeString(tmp, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(info));
        Files.move(tmp, d.resolve("dataset.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    static void rewriteList(Path d, TreeMap<String, FileRow> rows) throws IOException {
        Path tmp = AtomicFiles.tempBeside(d.resolve("files.tsv"));
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (FileRow r : rows.values()) {
                w.write(r.line());
                w.write('\n');
            }
        }
        Files.move(tmp, d.resolve("files.tsv"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    static void deleteTreeQuietly(Path root) {
        try {
            deleteTree(root);
        } catch (IOException ignored) {
            // a leftover folder without dataset.json is skipped at start
        }
    }

    /** Appends a file's line to the list: it arrived whole and is in place. */
    static void append(Path d, FileRow row) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(
                d.resolve("files.tsv"), StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            w.write(row.line());
            w.write('\n');
        }
    }

    /** Up to {@code size} files of a sealed dataset's list after the key {@code after} (null: from the start). */
    static List<FileRow> page(Path d, String after, int size) throws IOException {
        List<FileRow> page = new java.util.ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(d.resolve("files.tsv"), StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null && page.size() < size) {
                FileRow row = FileRow.parse(line);
                if (after == null || row.key().compareTo(after) > 0) {
                    page.add(row);
                }
            }
        }
        return page;
    }
}
