package dev.selfsup.cli;

import com.google.protobuf.util.JsonFormat;
import dev.selfsup.client.ClientSecurity;
import dev.selfsup.proto.v1.CancelRunRequest;
import dev.selfsup.proto.v1.DatasetRef;
import dev.selfsup.proto.v1.DeleteRunRequest;
import dev.selfsup.proto.v1.EmbedRequest;
import dev.selfsup.proto.v1.EncoderServiceGrpc;
import dev.selfsup.proto.v1.EvalResult;
import dev.selfsup.proto.v1.EvalSpec;
import dev.selfsup.proto.v1.EvaluateRunRequest;
import dev.selfsup.proto.v1.ExportEncoderRequest;
import dev.selfsup.proto.v1.GetServerInfoRequest;
import dev.selfsup.proto.v1.ListModelsRequest;
import dev.selfsup.proto.v1.ListRunsRequest;
import dev.selfsup.proto.v1.Method;
import dev.selfsup.proto.v1.ModelChunk;
import dev.selfsup.proto.v1.PublishEncoderRequest;
import dev.selfsup.proto.v1.ResumeRunRequest;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunSpec;
import dev.selfsup.proto.v1.RunState;
import dev.selfsup.proto.v1.SetDefaultVersionRequest;
import dev.selfsup.proto.v1.SystemServiceGrpc;
import dev.selfsup.proto.v1.TrainerServiceGrpc;
import dev.selfsup.proto.v1.UnloadModelRequest;
import dev.selfsup.proto.v1.WatchRunRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The selfsup command-line client. Every command speaks the trainer's gRPC API. */
@Command(
        name = "selfsup",
        mixinStandardHelpOptions = true,
        version = "selfsup 0.1.0",
        description = "Pretrain, watch, evaluate and export self-supervised image encoders.",
        subcommands = {
            Selfsup.Train.class,
            Selfsup.Runs.class,
            Selfsup.Watch.class,
            Selfsup.Eval.class,
            Selfsup.Export.class,
            Selfsup.Publish.class,
            Selfsup.Cancel.class,
            Selfsup.Resume.class,
            Selfsup.Delete.class,
            Selfsup.Embed.class,
            Selfsup.Models.class,
            GalleryCommands.class,
            DatasetCommands.class
        })
public final class Selfsup {
    @Option(
            names = "--trainer",
            defaultValue = "${env:SELFSUP_TRAINER:-localhost:8080}",
            description = "trainer-service address host:port (env SELFSUP_TRAINER)",
            scope = CommandLine.ScopeType.INHERIT)
    String trainer;

    @Option(
            names = "--encoder",
            defaultValue = "${env:SELFSUP_ENCODER:-localhost:8082}",
            description = "encoder-service address host:port (env SELFSUP_ENCODER)",
            scope = CommandLine.ScopeType.INHERIT)
    String encoder;

    @Option(
            names = "--token",
            description = "access token (env SELFSUP_TOKEN); default: the operator token of the token file",
            scope = CommandLine.ScopeType.INHERIT)
    String token;

    @Option(
            names = "--token-file",
            description = "the services' token file (env SELFSUP_TOKEN_FILE; default var/auth/tokens if it exists)",
            scope = CommandLine.ScopeType.INHERIT)
    Path tokenFile;

    @Option(
            names = "--allow-plaintext",
            description = "send the token without TLS to a host other than this one (a trusted network only)",
            scope = CommandLine.ScopeType.INHERIT)
    boolean allowPlaintext;

    @Option(
            names = "--tls-ca",
            description = "PEM certificates to trust: talk TLS to the services (env SELFSUP_TLS_CA)",
            scope = CommandLine.ScopeType.INHERIT)
    Path tlsCa;

    @Option(
            names = "--tls-cert",
            description = "PEM client certificate for mutual TLS (env SELFSUP_TLS_CERT)",
            scope = CommandLine.ScopeType.INHERIT)
    Path tlsCert;

    @Option(
            names = "--tls-key",
            description = "PEM private key of --tls-cert (env SELFSUP_TLS_KEY)",
            scope = CommandLine.ScopeType.INHERIT)
    Path tlsKey;

    /** The command line as {@code main} runs it: every subcommand answers --help and shows each option's default. */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Selfsup());
        addHelp(cl);
        return cl;
    }

    private static void addHelp(CommandLine command) {
        for (CommandLine sub : command.getSubcommands().values()) {
            if (sub.getCommandSpec().findOption("--help") == null) {
                sub.getCommandSpec().mixinStandardHelpOptions(true);
            }
            sub.getCommandSpec().usageMessage().showDefaultValues(true);
            addHelp(sub);
        }
    }

    public static void main(String[] args) {
        CommandLine cl = commandLine();
        Selfsup root = cl.getCommand();
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof StatusRuntimeException s
                    && s.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE
                    && s.getStatus().getCause() == null
                    && String.valueOf(s.getStatus().getDescription()).startsWith("Network closed")) {
                // The server hung up on the first bytes: the usual answer of a TLS port to plaintext.
                cmd.getErr()
                        .println("error: the service closed the connection at once. If it serves TLS, give the CA to"
                                + " trust: --tls-ca FILE or SELFSUP_TLS_CA (docs/security.md).");
                return 3;
            }
            if (e instanceof StatusRuntimeException s
                    && s.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE
                    && s.getStatus().getCause() != null) {
                // The connection failed (the server did not answer), as opposed to a server saying UNAVAILABLE.
                boolean encoder = cmd.getCommand() instanceof EncoderBase;
                String address = encoder ? root.encoder : root.trainer;
                cmd.getErr()
                        .println("error: cannot reach the " + (encoder ? "encoder" : "trainer") + "-service at "
                                + address + " (" + s.getStatus().getCause().getMessage() + "). Is it running? "
                                + "'deploy/main-job --keep-running' starts both services; --"
                                + (encoder ? "encoder" : "trainer")
                                + " or SELFSUP_" + (encoder ? "ENCODER" : "TRAINER") + " points the client elsewhere.");
                return 3;
            }
            if (e instanceof StatusRuntimeException s && s.getStatus().getCode() == io.grpc.Status.Code.UNIMPLEMENTED) {
                // Most often the address of another selfsup service: say which one it is.
                boolean encoder = cmd.getCommand() instanceof EncoderBase;
                String address = encoder ? root.encoder : root.trainer;
                String wanted = encoder ? "encoder-service" : "trainer-service";
                String found = root.serviceAt(address);
                if (found != null && !found.equals(wanted)) {
                    cmd.getErr()
                            .println("error: " + address + " is the " + found + ", not the " + wanted + ": point --"
                                    + (encoder ? "encoder" : "trainer") + " or SELFSUP_"
                                    + (encoder ? "ENCODER" : "TRAINER")
                                    + " at the " + wanted + " (port " + (encoder ? 8082 : 8080) + " by default)");
                    return 2;
                }
            }
            if (e instanceof StatusRuntimeException s) {
                cmd.getErr()
                        .println("error: " + s.getStatus().getCode() + ": "
                                + s.getStatus().getDescription());
                return 2;
            }
            if (e instanceof IllegalArgumentException || e instanceof java.io.UncheckedIOException) {
                cmd.getErr().println("error: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        System.exit(cl.execute(args));
    }

    /** The name of the selfsup service at {@code address} ("encoder-service"), or null when it cannot say. */
    String serviceAt(String address) {
        ManagedChannel ch = channel(address, true);
        try {
            return SystemServiceGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(5, TimeUnit.SECONDS)
                    .getServerInfo(GetServerInfoRequest.getDefaultInstance())
                    .getService();
        } catch (RuntimeException e) {
            return null;
        } finally {
            ch.shutdownNow();
        }
    }

    /**
     * A channel to a service. A command that only reads takes the token file's reader token; a token is never
     * sent without TLS to another host unless --allow-plaintext says so.
     */
    ManagedChannel channel(String address, boolean readOnly) {
        ClientSecurity security =
                ClientSecurity.resolve(token, tokenFile, tlsCa, tlsCert, tlsKey, System.getenv(), readOnly);
        requireSafeTransport(address, security, allowPlaintext);
        return security.channel(address).maxInboundMessageSize(8 << 20).build();
    }

    /**
     * Refuses to send a token in plaintext to a host that is not this machine: anyone on the path could read it.
     *
     * @throws IllegalArgumentException saying what to do instead
     */
    static void requireSafeTransport(String address, ClientSecurity security, boolean allowPlaintext) {
        if (security.token() == null || security.tls() || allowPlaintext) {
            return;
        }
        int colon = address.lastIndexOf(':');
        String host = colon > 0 ? address.substring(0, colon) : address;
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        boolean loopback;
        try {
            loopback = host.equals("localhost")
                    || java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            loopback = false;
        }
        if (!loopback) {
            throw new IllegalArgumentException("refusing to send the access token without TLS to " + host
                    + ", where anyone on the network path could read it: give --tls-ca (docs/security.md), or"
                    + " --allow-plaintext on a network you trust");
        }
    }

    /** A command that talks to the trainer-service over one channel (its runs and its datasets). */
    abstract static class TrainerCall implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        /** True for commands that only read: they send the reader token. */
        boolean readOnly() {
            return false;
        }

        @Override
        public Integer call() throws Exception {
            Selfsup root = (Selfsup) spec.root().userObject();
            ManagedChannel ch = root.channel(root.trainer, readOnly());
            try {
                return run(ch);
            } finally {
                ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }

        abstract int run(ManagedChannel channel) throws Exception;
    }

    /** A command on the trainer's runs. */
    abstract static class Base extends TrainerCall {
        @Override
        int run(ManagedChannel channel) throws Exception {
            return run(TrainerServiceGrpc.newBlockingStub(channel));
        }

        abstract int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) throws Exception;
    }

    /** Follows a run's events, drawing a progress bar, until it ends; returns its last state. */
    static Run follow(TrainerServiceGrpc.TrainerServiceBlockingStub stub, String id) {
        Iterator<RunEvent> events =
                stub.watchRun(WatchRunRequest.newBuilder().setRunId(id).build());
        Run last = null;
        // On a terminal the bar redraws itself in place; into a pipe or a log it is written as a line per 5%.
        boolean terminal = System.console() != null;
        long lastShare = -1;
        while (events.hasNext()) {
            RunEvent e = events.next();
            if (e.hasRun()) {
                last = e.getRun();
                System.err.printf(
                        "%n[%s] %s%s%s%s%s%n",
                        id,
                        state(last.getState()),
                        last.getResumedFromStep() > 0 ? " (resumed from step " + last.getResumedFromStep() + ")" : "",
                        last.getError().isBlank() ? "" : ": " + last.getError(),
                        last.getPublishedModel().isBlank() ? "" : "; encoder published as " + last.getPublishedModel(),
                        last.getPublishError().isBlank() ? "" : "; " + last.getPublishError());
            } else if (e.hasProgress()) {
                var p = e.getProgress();
                int width = 30;
                int filled = (int) (width * p.getStep() / Math.max(1, p.getTotalSteps()));
                StringBuilder extra = new StringBuilder();
                new TreeMap<>(p.getMethodMetricsMap())
                        .forEach((k, v) ->
                                extra.append("  ").append(k).append(' ').append(String.format("%.3f", v)));
                long share = 20 * p.getStep() / Math.max(1, p.getTotalSteps());
                if (!terminal && share == lastShare) {
                    continue;
                }
                lastShare = share;
                System.err.printf(
                        (terminal ? "\r" : "") + "[%s%s] %d/%d  epoch %.2f  loss %.4f  %.0f img/s  eta %s%s   "
                                + (terminal ? "" : "%n"),
                        "#".repeat(filled),
                        ".".repeat(width - filled),
                        p.getStep(),
                        p.getTotalSteps(),
                        p.getEpoch(),
                        p.getLoss(),
                        p.getImagesPerSecond(),
                        eta(p.getEta().getSeconds()),
                        extra);
            }
        }
        return last;
    }

    static String eta(long s) {
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s / 60 % 60) : String.format("%dm%02ds", s / 60, s % 60);
    }

    /** A method as the CLI takes it: METHOD_MOCO_V2 is "moco-v2". */
    static String methodName(Method m) {
        return m.name().substring("METHOD_".length()).toLowerCase(Locale.ROOT).replace('_', '-');
    }

    static String state(RunState s) {
        return s.name().replace("RUN_STATE_", "").toLowerCase(Locale.ROOT);
    }

    /** The methods the API names (its {@code Method} enum): "METHOD_MOCO_V2" is offered as "moco-v2". */
    static final class MethodNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Arrays.stream(Method.values())
                    .filter(m -> m != Method.UNRECOGNIZED && m != Method.METHOD_UNSPECIFIED)
                    .map(Selfsup::methodName)
                    .iterator();
        }
    }

    @Command(
            name = "train",
            mixinStandardHelpOptions = true,
            description = "Start a pretraining run and follow it to the end.")
    static final class Train extends Base {
        @Option(
                names = "--method",
                defaultValue = "simclr",
                completionCandidates = MethodNames.class,
                description = "the method: ${COMPLETION-CANDIDATES}")
        String method;

        @Option(names = "--dataset", defaultValue = "fashion-mnist", description = "folder under the data root")
        String dataset;

        @Option(names = "--uploaded", description = "train on a dataset uploaded with 'selfsup datasets upload'")
        String uploaded;

        @Option(names = "--image-size", description = "image folders: the side images are resized to (default 32)")
        Integer imageSize;

        @Option(names = "--channels", description = "image folders: 1 (grey) or 3 (RGB, default)")
        Integer channels;

        @Option(names = "--epochs", description = "passes over the data (default: the method's, from the trainer)")
        Integer epochs;

        @Option(names = "--steps", description = "optimizer steps instead of epochs")
        Long steps;

        @Option(names = "--batch-size", description = "images per step (default: the method's, from the trainer)")
        Integer batchSize;

        @Option(names = "--seed", description = "the run's seed: data order, augmentations, initialisation")
        Long seed;

        @Option(names = "--name", defaultValue = "", description = "a name for the run (optional)")
        String name;

        @Option(names = "--detach", description = "return once the run is queued")
        boolean detach;

        @Option(names = "--tokenizer", description = "beit: the tokenizer on the tokenizer-service giving the targets")
        String tokenizer;

        @Option(names = "--width", description = "backbone width (the ViT's embedding size for beit)")
        Integer width;

        @Option(names = "--depth", description = "backbone depth (the ViT's layers for beit)")
        Integer depth;

        @Option(
                names = "--set",
                paramLabel = "KEY=VALUE",
                description = "any other field of the run's spec by its "
                        + "name in trainer.proto, e.g. --set temperature=0.5 --set backbone=resnet18 (repeatable); a setting of "
                        + "another method is not used, and the run's spec shows what ran")
        Map<String, String> fields = new LinkedHashMap<>();

        /** The API enum of a method name: "moco-v2" is METHOD_MOCO_V2. */
        static Method methodOf(String name) {
            String n = "moco".equals(name) ? "moco-v2" : name;
            try {
                return Method.valueOf("METHOD_" + n.toUpperCase(Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                List<String> known = new ArrayList<>();
                new MethodNames().forEach(known::add);
                throw new IllegalArgumentException("--method: unknown method '" + name + "'"
                        + Suggestions.didYouMean(name, known) + "; the methods: " + String.join(", ", known));
            }
        }

        DatasetRef datasetRef() {
            DatasetRef.Builder d = uploaded != null
                    ? DatasetRef.newBuilder().setUploaded(uploaded)
                    : DatasetRef.newBuilder().setPath(dataset);
            if (imageSize != null) {
                d.setImageSize(imageSize);
            }
            if (channels != null) {
                d.setChannels(channels);
            }
            return d.build();
        }

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) {
            RunSpec.Builder s = RunSpec.newBuilder()
                    .setName(name)
                    .setMethod(methodOf(method))
                    .setDataset(datasetRef());
            if (epochs != null) {
                s.setEpochs(epochs);
            }
            if (steps != null) {
                s.setSteps(steps);
            }
            if (batchSize != null) {
                s.setBatchSize(batchSize);
            }
            if (seed != null) {
                s.setSeed(seed);
            }
            if (tokenizer != null) {
                s.setTokenizer(tokenizer);
            }
            if (width != null) {
                s.setWidth(width);
            }
            if (depth != null) {
                s.setDepth(depth);
            }
            fields.forEach((k, v) -> SpecFields.set(s, k, v));
            Run run = stub.startRun(s.build());
            System.out.println(run.getRunId());
            if (detach) {
                return 0;
            }
            Run last = follow(stub, run.getRunId());
            return last != null && last.getState() == RunState.RUN_STATE_SUCCEEDED ? 0 : 1;
        }
    }

    @Command(name = "runs", mixinStandardHelpOptions = true, description = "List runs.")
    static final class Runs extends Base {
        @Override
        boolean readOnly() {
            return true;
        }

        @Option(names = "--json", description = "one JSON object per run and line, every field of the Run message")
        boolean json;

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) throws Exception {
            List<Run> runs = stub.listRuns(ListRunsRequest.getDefaultInstance()).getRunsList();
            if (json) {
                for (Run r : runs) {
                    System.out.println(JsonFormat.printer()
                            .omittingInsignificantWhitespace()
                            .print(r));
                }
                return 0;
            }
            System.out.printf("%-10s %-10s %-9s %12s %10s  %s%n", "RUN", "STATE", "METHOD", "STEP", "LOSS", "NAME");
            for (Run r : runs) {
                System.out.printf(
                        "%-10s %-10s %-9s %5d/%-6d %10.4f  %s%n",
                        r.getRunId(),
                        state(r.getState()),
                        methodName(r.getSpec().getMethod()),
                        r.getStep(),
                        r.getTotalSteps(),
                        r.getLoss(),
                        r.getName());
            }
            return 0;
        }
    }

    @Command(name = "watch", mixinStandardHelpOptions = true, description = "Follow a run's progress.")
    static final class Watch extends Base {
        @Override
        boolean readOnly() {
            return true;
        }

        @Parameters(paramLabel = "RUN", description = "the run's id (see 'selfsup runs')")
        String id;

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) {
            follow(stub, id);
            return 0;
        }
    }

    @Command(
            name = "eval",
            mixinStandardHelpOptions = true,
            description = "kNN and linear-probe accuracy of a run's encoder.")
    static final class Eval extends Base {
        @Parameters(paramLabel = "RUN", description = "the run's id (see 'selfsup runs')")
        String id;

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) throws Exception {
            EvalResult r = stub.evaluateRun(EvaluateRunRequest.newBuilder()
                    .setRunId(id)
                    .setSpec(EvalSpec.getDefaultInstance())
                    .build());
            System.out.println(
                    JsonFormat.printer().omittingInsignificantWhitespace().print(r));
            return 0;
        }
    }

    @Command(name = "export", mixinStandardHelpOptions = true, description = "Download a run's encoder bundle.")
    static final class Export extends Base {
        @Parameters(paramLabel = "RUN", description = "the run's id (see 'selfsup runs')")
        String id;

        @Option(
                names = {"-o", "--output"},
                required = true,
                description = "where to write the bundle")
        Path output;

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) throws Exception {
            Iterator<ModelChunk> chunks = stub.exportEncoder(
                    ExportEncoderRequest.newBuilder().setRunId(id).build());
            Path tmp = Files.createTempFile(output.toAbsolutePath().getParent(), ".export", ".tmp");
            long size = 0;
            String sha = "";
            var digest = MessageDigest.getInstance("SHA-256");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                while (chunks.hasNext()) {
                    ModelChunk c = chunks.next();
                    if (c.hasManifest()) {
                        size = c.getManifest().getSizeBytes();
                        sha = c.getManifest().getSha256();
                    } else {
                        byte[] b = c.getData().toByteArray();
                        digest.update(b);
                        out.write(b);
                    }
                }
            }
            String got = HexFormat.of().formatHex(digest.digest());
            if (!got.equals(sha)) {
                Files.deleteIfExists(tmp);
                System.err.println("error: checksum mismatch (expected " + sha + ", got " + got + ")");
                return 1;
            }
            Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            System.out.println(output + " (" + size + " bytes, sha256 " + sha + ")");
            return 0;
        }
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true, description = "Cancel a run (it checkpoints first).")
    static final class Cancel extends Base {
        @Parameters(paramLabel = "RUN", description = "the run's id (see 'selfsup runs')")
        String id;

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) {
            System.out.println(state(
                    stub.cancelRun(CancelRunRequest.newBuilder().setRunId(id).build())
                            .getState()));
            return 0;
        }
    }

    @Command(
            name = "resume",
            mixinStandardHelpOptions = true,
            description = "Resume a cancelled, failed or interrupted run from its last checkpoint.")
    static final class Resume extends Base {
        @Parameters(paramLabel = "RUN", description = "the run's id (see 'selfsup runs')")
        String id;

        @Option(names = "--detach", description = "return once the run is queued")
        boolean detach;

        @Option(
                names = "--start-over",
                description = "train again from step 0, deleting the run's checkpoints "
                        + "(needed when all of them are corrupt)")
        boolean startOver;

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) {
            stub.resumeRun(ResumeRunRequest.newBuilder()
                    .setRunId(id)
                    .setStartOver(startOver)
                    .build());
            if (!detach) {
                follow(stub, id);
            }
            return 0;
        }
    }

    @Command(name = "delete", description = "Delete a run that has ended, with its checkpoints and encoder.")
    static final class Delete extends Base {
        @Parameters(paramLabel = "RUN", description = "the run's id (see 'selfsup runs')")
        String id;

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) {
            stub.deleteRun(DeleteRunRequest.newBuilder().setRunId(id).build());
            System.out.println("deleted " + id);
            return 0;
        }
    }

    @Command(
            name = "publish",
            description = "Send a run's encoder to the encoder-service the trainer is configured with.")
    static final class Publish extends Base {
        @Parameters(paramLabel = "RUN", description = "the run's id (see 'selfsup runs')")
        String id;

        @Option(names = "--model", description = "model name (default: the run's)")
        String model = "";

        @Override
        int run(TrainerServiceGrpc.TrainerServiceBlockingStub stub) {
            Run r = stub.publishEncoder(PublishEncoderRequest.newBuilder()
                    .setRunId(id)
                    .setModelName(model)
                    .build());
            System.out.println(r.getPublishedModel());
            return 0;
        }
    }

    /** Commands that talk to the encoder-service. */
    abstract static class EncoderBase implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        /** True for commands that only read: they send the reader token. */
        boolean readOnly() {
            return true;
        }

        @Override
        public Integer call() throws Exception {
            Selfsup root = (Selfsup) spec.root().userObject();
            ManagedChannel ch = root.channel(root.encoder, readOnly());
            try {
                return run(EncoderServiceGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.MINUTES));
            } finally {
                ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }

        abstract int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) throws Exception;
    }

    /** Encoder-service commands that change something: they send the operator token. */
    abstract static class EncoderWriter extends EncoderBase {
        @Override
        final boolean readOnly() {
            return false;
        }
    }

    @Command(
            name = "models",
            mixinStandardHelpOptions = true,
            description = "List the encoder-service's models and versions; unload or pin one.",
            subcommands = {Models.Unload.class, Models.Pin.class})
    static final class Models extends EncoderBase {
        @Command(name = "unload", description = "Stop serving a model's version, or all its versions.")
        static final class Unload extends EncoderWriter {
            @Parameters(index = "0", paramLabel = "MODEL", description = "the model's name")
            String name;

            @Parameters(index = "1", arity = "0..1", paramLabel = "VERSION", description = "the version (default: all)")
            int version;

            @Override
            int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) {
                var r = stub.unloadModel(UnloadModelRequest.newBuilder()
                        .setName(name)
                        .setVersion(version)
                        .build());
                System.out.println(name + ": unloaded versions " + r.getVersionsList());
                return 0;
            }
        }

        @Command(name = "pin", description = "Make a version the one served when a request names no version.")
        static final class Pin extends EncoderWriter {
            @Parameters(index = "0", paramLabel = "MODEL", description = "the model's name")
            String name;

            @Parameters(index = "1", paramLabel = "VERSION", description = "the version to serve by default")
            int version;

            @Override
            int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) {
                var m = stub.setDefaultVersion(SetDefaultVersionRequest.newBuilder()
                        .setName(name)
                        .setVersion(version)
                        .build());
                System.out.println(m.getName() + ": version " + m.getVersion() + " is the default");
                return 0;
            }
        }

        @Override
        int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) {
            var models = stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsList();
            System.out.printf(
                    "%-24s %7s %-8s %-7s %5s  %s%n", "MODEL", "VERSION", "STATE", "DEFAULT", "DIM", "BACKBONE");
            for (var m : models) {
                System.out.printf(
                        "%-24s %7d %-8s %-7s %5d  %s%n",
                        m.getName(),
                        m.getVersion(),
                        m.getState().name().replace("MODEL_STATE_", "").toLowerCase(Locale.ROOT),
                        m.getIsDefault() ? "yes" : "",
                        m.getFeatureDim(),
                        m.getBackbone());
            }
            return 0;
        }
    }

    @Command(
            name = "embed",
            description = "Embed images with a served model: PNG/JPEG files, or the first images of "
                    + "an IDX file (e.g. Fashion-MNIST's test set). Prints one line per image.")
    static final class Embed extends EncoderBase {
        @CommandLine.Mixin
        GalleryCommands.ModelChoice choice;

        @Option(names = "--normalize", description = "L2-normalise the embeddings")
        boolean normalize;

        @CommandLine.Mixin
        ImageArgs images;

        @Override
        int run(EncoderServiceGrpc.EncoderServiceBlockingStub stub) throws Exception {
            var req = EmbedRequest.newBuilder()
                    .setModel(choice.model)
                    .setVersion(choice.version)
                    .setNormalize(normalize);
            List<String> names = new ArrayList<>();
            for (ImageArgs.Named image : images.load()) {
                req.addImages(image.image());
                names.add(image.name());
            }
            var r = stub.embed(req.build());
            System.out.printf(
                    "%s v%d: %d embeddings of %d values%n",
                    r.getModel(),
                    r.getVersion(),
                    r.getEmbeddingsCount(),
                    r.getEmbeddings(0).getValuesCount());
            for (int i = 0; i < r.getEmbeddingsCount(); i++) {
                var v = r.getEmbeddings(i).getValuesList();
                StringBuilder sb = new StringBuilder();
                for (int j = 0; j < Math.min(6, v.size()); j++) {
                    sb.append(String.format("% .4f ", v.get(j)));
                }
                double norm = Math.sqrt(v.stream().mapToDouble(x -> x * x).sum());
                System.out.printf(
                        "%-28s [%s...] norm %.3f%n", names.get(i), sb.toString().trim(), norm);
            }
            return 0;
        }
    }
}
