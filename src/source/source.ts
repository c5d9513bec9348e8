/**
 * Where a report's events come from: the kernel now (LiveSource, optionally
 * recording everything that passes) or a recorded trace (FileSource). Reports
 * see the same interface, so a report made from a recording is the same
 * report the live command printed for those events.
 */
import { CgroupNames } from '../host/cgroups';
import { Clock } from '../kernel/clock';
import { KernelAggregates, KernelConnection, Snapshot, SnapshotFile, SnapshotSocket, TimedSnapshot, TransitionEvent } from '../kernel/decoder';
import { TracerCounters, TracerOptions } from '../kernel/native';
import { AF_INET, AF_INET6, TCP } from '../kernel/states';

export interface SourceHandlers {
  onEvents(events: TransitionEvent[]): void;
  /** From a source that sends finished connections instead of events (sendsConnections). */
  onConnections?(connections: KernelConnection[]): void;
  onLost?(newlyLost: number, total: number): void;
  /** After the last event, when finalSnapshot() is available (taken live just before detaching). */
  atEnd?(): void;
}

export interface EventSource {
  readonly clock: Clock;
  readonly start: TimedSnapshot;
  /** Owners' cgroup paths and containers: this host's live, the recording's `cgroup` lines from a file. */
  readonly cgroups: CgroupNames;
  /** Delivers events until the end: --duration, a signal or a stop() live; the file's end. */
  run(handlers: SourceHandlers): Promise<void>;
  /** Sockets and holders now; live only (a recording has only its start and end). */
  snapshotNow(): TimedSnapshot;
  /** The sockets and holders at the end; valid from atEnd on. */
  finalSnapshot(): TimedSnapshot;
  counters(): TracerCounters;
  /** Set when the kernel counts the distributions itself and sends no events (a live source opened aggregate-only). */
  readonly aggregates?: () => KernelAggregates;
  /** The network namespace tcptrace runs in (live; a recording's is not kept). */
  readonly ownNetns?: number | null;
  /** What names each network namespace now (its ip netns name, pod or container); live only. */
  netnsNames?(): (inode: number) => string | null;
  /** Set when the kernel follows each connection itself and sends one record at its end, and no events (a live source opened so). */
  readonly sendsConnections?: boolean;
  stop(reason: string): void;
}

/**
 * The part of a snapshot a run is about: the sockets that pass every filter
 * the kernel applies to transitions and accept() records (port, family,
 * state, owner, network namespace), and the holders of those sockets only.
 * A socket the filters would not have let through must not be in a snapshot
 * either: its transitions never come, and a report would show it open for
 * ever. And the file iterator lists every socket fd of the host, in every
 * namespace: on a busy host 100,000 lines per snapshot that no report reads,
 * in memory, in the tracker and in every recording.
 */
export function narrowSnapshot(
  snapshot: Snapshot, filters: Pick<TracerOptions, 'ports' | 'family' | 'stateMask' | 'pids' | 'netns'>,
): Snapshot {
  const ports = filters.ports ?? [];
  const family = filters.family === AF_INET ? 4 : filters.family === AF_INET6 ? 6 : undefined;
  const netns = filters.netns ?? [];
  const held = filters.pids?.length ? heldBy(snapshot.files, filters.pids) : undefined;
  const sockets = snapshot.sockets.filter((s) => (family === undefined || s.family === family)
    && (ports.length === 0 || ports.includes(s.sport) || ports.includes(s.dport))
    && inStates(s, filters.stateMask ?? 0)
    && (netns.length === 0 || netns.includes(s.netns))
    && (!held || held.has(s.skaddr)));
  const kept = new Set(sockets.map((s) => s.skaddr));
  return { sockets, files: snapshot.files.filter((f) => kept.has(f.skaddr)) };
}

/** Whether a socket is in one of the states of a --state mask (0: any), as the states are named in it. */
function inStates(s: SnapshotSocket, mask: number): boolean {
  if (mask === 0) return true;
  const named = [s.state, ...(s.twSubstate ? [s.twSubstate] : []), ...(s.state === TCP.NEW_SYN_RECV ? [TCP.SYN_RECV] : [])];
  return named.some((state) => (mask & (1 << state)) !== 0);
}

/** The sockets one of these processes holds: an owner filter keeps those. */
function heldBy(files: SnapshotFile[], pids: number[]): Set<string> {
  return new Set(files.filter((f) => pids.includes(f.pid)).map((f) => f.skaddr));
}
