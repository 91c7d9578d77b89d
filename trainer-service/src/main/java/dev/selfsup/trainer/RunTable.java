package dev.selfsup.trainer;

import com.google.protobuf.Timestamp;
import dev.selfsup.core.train.PretrainConfig;
import dev.selfsup.core.train.Pretrainer;
import dev.selfsup.proto.v1.Run;
import dev.selfsup.proto.v1.RunEvent;
import dev.selfsup.proto.v1.RunState;
import io.grpc.Status;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.MultiEmitter;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.time.Instant;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;

/**
 * The runs in memory: each run's current message, its trainer while it trains, and its watchers. Every change of a
 * run goes through {@link #update} while holding this table's lock, and a watcher registers under the same lock, so
 * a watcher sees the state it started from and then each change after it exactly once.
 *
 * <p>A {@code @Singleton}, not {@code @ApplicationScoped}: callers take the lock on the reference they were given
 * ({@code synchronized (table)}), and a normal-scoped bean is given as a client proxy, another monitor than the
 * {@code this} its own methods lock. With the proxy a watcher could register between a change and its announcement
 * and see a state twice (seen once in CI: RUNNING, RUNNING, SUCCEEDED).
 */
@Singleton
public class RunTable {
    /** The states of a run that has not ended. */
    static final Set<RunState> ACTIVE = Set.of(RunState.RUN_STATE_QUEUED, RunState.RUN_STATE_RUNNING);

    @Inject
    RunStore store;

    @Inject
    TrainingMetrics metrics;

    private final Map<String, Handle> runs = new ConcurrentHashMap<>();

    /** A run in memory: its current message, its trainer while it runs, and its watchers. */
    static final class Handle {
        volatile Run run;
        volatile Pretrainer trainer;
        volatile Future<?> future;
        volatile boolean cancelRequested;
        /**
         * The config admitted with the run, which execution trains (null for a run read back from the store or
         * resumed: its recorded spec is mapped again).
         */
        volatile PretrainConfig config;
        /** Its record failed its checksum at start: listed FAILED, never resumed from what it says. */
        volatile boolean untrusted;

        final List<MultiEmitter<? super RunEvent>> watchers = new CopyOnWriteArrayList<>();

        Handle(Run run) {
            this.run = run;
        }

        String id() {
            return run.getRunId();
        }
    }

    /** The run {@code id}: INVALID_ARGUMENT when none is given, NOT_FOUND when there is no such run. */
    Handle handle(String id) {
        if (id == null || id.isBlank()) {
            throw RunSpecs.invalid("run_id: required");
        }
        Handle h = runs.get(id);
        if (h == null) {
            throw Status.NOT_FOUND
                    .withDescription("no run with id '" + id + "'")
                    .asRuntimeException();
        }
        return h;
    }

    /** Adds a run (already saved). */
    void add(Handle h) {
        runs.put(h.id(), h);
        refreshCounts();
    }

    /** Removes a run and ends its watchers' streams. */
    void remove(Handle h) {
        runs.remove(h.id());
        h.watchers.forEach(MultiEmitter::complete);
        refreshCounts();
    }

    Collection<Handle> all() {
        return runs.values();
    }

    int size() {
        return runs.size();
    }

    /** Runs waiting for a worker. */
    long queued() {
        return runs.values().stream()
                .filter(h -> h.run.getState() == RunState.RUN_STATE_QUEUED)
                .count();
    }

    /** The runs in the given states (all when empty), newest first. */
    List<Run> list(Set<RunState> states) {
        return runs.values().stream()
                .map(h -> h.run)
                .filter(r -> states.isEmpty() || states.contains(r.getState()))
                .sorted(Comparator.comparing((Run r) -> r.getCreatedAt().getSeconds())
                        .reversed()
                        .thenComparing(Run::getRunId))
                .toList();
    }

    /**
     * Sets and persists a run's new message; call it holding this table's lock. Watchers hear of it only when its
     * state changed (the proto's promise); they are completed when it ended.
     */
    void update(Handle h, Run run) {
        store.save(run); // first: a failed write changes nothing, memory and disk agree
        RunState before = h.run.getState();
        h.run = run;
        if (before == run.getState()) {
            return;
        }
        RunEvent e = RunEvent.newBuilder().setTime(now()).setRun(run).build();
        boolean ended = !ACTIVE.contains(run.getState());
        for (MultiEmitter<? super RunEvent> w : h.watchers) {
            w.emit(e);
            if (ended) {
                w.complete();
            }
        }
        refreshCounts();
    }

    /** Sends an event that is not a state change (progress, a checkpoint) to the run's watchers. */
    void emit(Handle h, RunEvent e) {
        h.watchers.forEach(w -> w.emit(e));
    }

    /** The run's events: its current state first, then changes and progress, until it ends. */
    Multi<RunEvent> watch(String id) {
        Handle h = handle(id);
        return Multi.createFrom().emitter(em -> {
            synchronized (this) {
                h.watchers.add(em);
                em.onTermination(() -> h.watchers.remove(em));
                Run current = h.run;
                em.emit(RunEvent.newBuilder().setTime(now()).setRun(current).build());
                if (!ACTIVE.contains(current.getState())) {
                    em.complete();
                }
            }
        });
    }

    /** Publishes the number of runs in each state. */
    void refreshCounts() {
        Map<RunState, Integer> counts = new EnumMap<>(RunState.class);
        for (Handle h : runs.values()) {
            counts.merge(h.run.getState(), 1, Integer::sum);
        }
        metrics.setRunCounts(counts);
    }

    static Timestamp now() {
        Instant i = Instant.now();
        return Timestamp.newBuilder()
                .setSeconds(i.getEpochSecond())
                .setNanos(i.getNano())
                .build();
    }

    static com.google.protobuf.Duration duration(long nanos) {
        return com.google.protobuf.Duration.newBuilder()
                .setSeconds(nanos / 1_000_000_000L)
                .setNanos((int) (nanos % 1_000_000_000L))
                .build();
    }
}
