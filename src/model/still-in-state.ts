/**
 * What a duration histogram cannot show: the sockets still waiting, at the
 * end, for the transition that would end their measurement. A leak sits in
 * CLOSE_WAIT for ever and never reaches the histogram of time in CLOSE_WAIT;
 * this says it is there, and for how long the oldest has been.
 */
import { SnapshotSocket, TimedSnapshot } from '../kernel/decoder';
import { stateName, TCP } from '../kernel/states';
import { MEASURES } from './latency';
import { MeasureKind } from './tracker';

export interface StillInState {
  name: MeasureKind;
  /** What they are still in: a state, or "an accept queue", "open". */
  state: string;
  count: number;
  /** The oldest's time in it so far (ms), where any is known. */
  oldestMs: number | null;
  /** The oldest was in it before tracing began: at least this long. */
  oldestIsLowerBound: boolean;
}

/** When a socket entered what it is still in; lowerBound: before this time, not seen. */
export interface Since {
  ns: number;
  lowerBound: boolean;
}

/** What each measure waits in, and which sockets of a snapshot are in it. */
const WAITING: Record<MeasureKind, { state: string; holds(s: SnapshotSocket): boolean }> = {
  connect: { state: stateName(TCP.SYN_SENT), holds: (s) => s.state === TCP.SYN_SENT },
  // Counted from the listeners' queues: the queued sockets have no fd yet.
  accept: { state: 'an accept queue', holds: () => false },
  lifetime: { state: 'open', holds: (s) => s.sockId !== 0 && s.state !== TCP.LISTEN && s.state !== TCP.CLOSE && s.state !== TCP.TIME_WAIT && s.state !== TCP.NEW_SYN_RECV },
  closeWait: { state: stateName(TCP.CLOSE_WAIT), holds: (s) => s.state === TCP.CLOSE_WAIT },
  finWait2: { state: stateName(TCP.FIN_WAIT2), holds: (s) => s.state === TCP.FIN_WAIT2 },
};

/** The same socket in two snapshots: its id where the kernel side gave one (an address can be reused). */
const identity = (s: SnapshotSocket) => (s.sockId ? `#${s.sockId}` : s.skaddr);

/**
 * Per measure, the sockets of the end snapshot still in what it waits on.
 * `since` says when a socket entered it, where the caller knows (the
 * tracker's connections, or what the kernel side kept); a socket it does not
 * know that was already in the same state at the start is at least as old as
 * the trace.
 */
export function stillInState(
  start: TimedSnapshot, end: TimedSnapshot, since: (s: SnapshotSocket, kind: MeasureKind) => Since | null,
): StillInState[] {
  const atStart = new Map(start.sockets.map((s) => [identity(s), s.state]));
  return MEASURES.map(({ kind }) => {
    const { state, holds } = WAITING[kind];
    if (kind === 'accept') {
      const queued = end.sockets.filter((s) => s.state === TCP.LISTEN).reduce((sum, s) => sum + (s.acceptQueue ?? 0), 0);
      return { name: kind, state, count: queued, oldestMs: null, oldestIsLowerBound: false };
    }
    const sockets = end.sockets.filter(holds);
    let oldest: Since | null = null;
    for (const s of sockets) {
      const before = atStart.get(identity(s));
      const wasIn = kind === 'lifetime' ? before !== undefined : before === s.state;
      const known = since(s, kind) ?? (wasIn ? { ns: start.tsNs, lowerBound: true } : null);
      if (known && (!oldest || known.ns < oldest.ns)) oldest = known;
    }
    return {
      name: kind, state, count: sockets.length,
      oldestMs: oldest ? Math.round((end.tsNs - oldest.ns) / 1e5) / 10 : null,
      oldestIsLowerBound: oldest?.lowerBound ?? false,
    };
  });
}

/** Aggregates only: the kernel side keeps when each socket entered CLOSE_WAIT, and nothing else. */
export function keptByKernel(s: SnapshotSocket, kind: MeasureKind): Since | null {
  const ns = kind === 'closeWait' ? s.closeWait?.sinceNs : null;
  return ns == null ? null : { ns, lowerBound: false };
}
