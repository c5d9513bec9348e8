/**
 * A recording as a Chrome / Perfetto trace (the JSON Trace Event Format), for
 * ui.perfetto.dev or chrome://tracing: one process track per owning process,
 * one thread track per connection, and on it one slice for the connection's
 * life with its TCP states as child slices.
 *
 * Streamed: a connection's events are written when it closes (or at end()),
 * so memory follows the number of open connections, never the trace length.
 *
 * What a reader of the output can rely on, per track (pid, tid) and per
 * connection life: the connection slice comes first, then its state slices
 * and instants in non-decreasing ts. At equal ts the enclosing slice is
 * written first, because Perfetto and chrome://tracing nest complete events
 * of equal ts in file order. M (metadata) events carry ts 0 and may come
 * anywhere. Lost records sit on their own track, in arrival order.
 */
import { formatEndpoint } from '../kernel/addr';
import { OwnerSource, SnapshotSocket, TransitionEvent } from '../kernel/decoder';
import { stateName, TCP } from '../kernel/states';
import { Connection, ConnectionTracker, FinishedConnection } from '../model/tracker';
import { TraceFile, TraceFooter, TraceHeader, TraceLine, TraceLost } from '../trace/format';

/** One event as written (the subset of the Trace Event Format used here). */
export interface TraceEventOut {
  name: string;
  cat?: string;
  ph: 'X' | 'i' | 'M';
  /** Microseconds since the recording's startNs. */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  /** Instant scope: 't' thread, 'p' process. */
  s?: 't' | 'p';
  args?: Record<string, unknown>;
}

/** The pseudo-process for connections no process context ever named. */
export const UNKNOWN_OWNER_PID = 0;
/** The track for lost records under UNKNOWN_OWNER_PID: sockId 0 is never a followed connection. */
export const LOST_TID = 0;

/**
 * A socket's life has a handful of transitions (the TCP state machine has no
 * cycles before CLOSE) and one accept; the cap only guards against a corrupt
 * trace making one connection grow without end.
 */
const MAX_CHILDREN = 64;
const MAX_OWNER_CHANGES = 8;

interface Owner { pid: number; comm: string | null; source: OwnerSource }
interface OwnerChange extends Owner { atUs: number }

type Child =
  | { kind: 'state'; state: number; beginNs: number; endNs: number; inferred: boolean }
  | { kind: 'instant'; name: string; tsNs: number; args: Record<string, unknown> };

/** What a connection's slices need beyond the tracker's Connection, held until it is written. */
interface Track {
  conn: Connection;
  /** The first known owner: its process track is the connection's for good. */
  owner: Owner | null;
  ownerChanges: OwnerChange[];
  /** When the current state's slice began; null: just born, in no state of its own yet. */
  stateSinceNs: number | null;
  /** The current state was entered by an inferred transition. */
  stateInferred: boolean;
  /** Latest time seen for it: every child ends by then, so the slice can end no earlier. */
  lastNs: number;
  /** The kernel's counters from its latest event (null until one is seen). */
  txBytes: number | null;
  rxBytes: number | null;
  /** Held until the connection ends, so its slice can be written before them (see top). */
  children: Child[];
  droppedChildren: number;
  /** Its ->CLOSE, and when, until the tracker has finished it. */
  closing?: { t: number; e: TransitionEvent };
}

export class PerfettoExporter {
  /** The connections open, by sockId: the tracker says what they are and when they change. */
  private readonly tracks = new Map<number, Track>();
  private readonly tracker = new ConnectionTracker({
    onOpened: (conn) => this.opened(conn),
    onTransition: (e, conn) => { if (conn) this.transition(conn, e); },
    onAccepted: (conn, e) => this.accepted(conn, e),
    onOwnerChanged: (conn, e) => this.ownerChanged(conn, e),
    onFinished: (c) => this.finished(c),
  });
  /** The start snapshot's sockets, loaded into the tracker together (it needs them all at once). */
  private snapshotSockets: SnapshotSocket[] = [];
  /** Bounded by pid_max, not by the trace length. */
  private readonly namedPids = new Set<number>();
  private lostTrackNamed = false;
  private footer: TraceFooter | null = null;
  private lastNs: number;
  private lostCount = 0;
  private exported = 0;
  private firstEvent = true;
  private ended = false;

  constructor(private readonly write: (chunk: string) => void, private readonly header: TraceHeader) {
    this.lastNs = header.startNs;
    write('{"traceEvents":[');
  }

  /** Connections followed and not yet written. */
  get openConnections(): number {
    return this.tracks.size;
  }

  add(line: TraceLine): void {
    if (this.ended) throw new Error('PerfettoExporter: add() after end()');
    if (line.type === 'socket' && line.phase === 'start') { this.snapshotSockets.push(line); return; }
    this.loadSnapshot();
    switch (line.type) {
      case 'snapshot': this.seen(line.tsNs); return;
      case 'file': if (line.phase === 'start') this.snapshotFile(line); return;
      case 'event': this.seen(line.tsNs); this.tracker.apply([line]); return;
      case 'lost': this.lost(line); return;
      case 'footer': this.footer = line; return;
      default: return; // the header (the constructor's), the end snapshot's sockets, cgroups
    }
  }

  /** Closes what is still open at the footer's endNs (or the last time seen), then the document. */
  end(): void {
    if (this.ended) throw new Error('PerfettoExporter: end() called twice');
    this.loadSnapshot();
    this.ended = true;
    const endNs = Math.max(this.footer?.endNs ?? this.lastNs, this.header.startNs);
    for (const track of this.tracks.values()) this.finish(track, endNs, null);
    this.tracks.clear();
    this.write(`\n],"displayTimeUnit":"ms","metadata":${JSON.stringify(this.metadata(endNs))}}\n`);
  }

  private seen(tsNs: number): void {
    if (tsNs > this.lastNs) this.lastNs = tsNs;
  }

  private loadSnapshot(): void {
    if (this.snapshotSockets.length === 0) return;
    // Its time is moot here: connections alive before tracing are drawn from the start (beginOf).
    this.tracker.loadSnapshot(this.snapshotSockets, this.header.startNs);
    this.snapshotSockets = [];
  }

  /** An fd holding the socket names its owner when no event has. Other holders of a shared
   *  socket are not owner changes, so only the first one counts. */
  private snapshotFile(f: TraceFile): void {
    const track = this.tracks.get(f.sockId);
    if (track && track.owner === null) track.owner = { pid: f.pid, comm: f.comm, source: 'snapshot' };
  }

  /** A birth replacing a snapshot entry keeps the owner its fd named, if the birth names none. */
  private opened(conn: Connection): void {
    const beginNs = this.beginOf(conn);
    this.tracks.set(conn.sockId, {
      conn, owner: ownerOf(conn) ?? this.tracks.get(conn.sockId)?.owner ?? null, ownerChanges: [],
      // One alive when tracing began is in the state it was first seen in from the start.
      stateSinceNs: conn.preexisting ? beginNs : null, stateInferred: false, lastNs: beginNs,
      txBytes: null, rxBytes: null, children: [], droppedChildren: 0,
    });
  }

  private accepted(conn: Connection, e: TransitionEvent): void {
    const track = this.tracks.get(conn.sockId)!;
    const t = this.absorb(track, e);
    this.addChild(track, {
      kind: 'instant', name: 'accept', tsNs: t,
      args: { pid: e.pid, comm: e.comm, ownerSource: e.ownerSource, acceptQueueUs: e.prevStateNs === null ? null : e.prevStateNs / 1000 },
    });
  }

  /** Called before conn takes e: conn.state is the state that ends here. */
  private transition(conn: Connection, e: TransitionEvent): void {
    const track = this.tracks.get(conn.sockId)!;
    const t = this.absorb(track, e);
    if (track.stateSinceNs !== null) this.addChild(track, stateChild(track, conn.state, t));
    track.stateSinceNs = t;
    track.stateInferred = e.inferred;
    // Its end waits for the tracker's account of it (finished): the bytes life prints.
    if (e.newstate === TCP.CLOSE) track.closing = { t, e };
  }

  /** The tracker's account of a connection that ended: payload bytes, as life counts them. */
  private finished(c: FinishedConnection): void {
    const track = this.tracks.get(c.sockId);
    if (!track?.closing) return;
    this.tracks.delete(c.sockId);
    track.txBytes = c.txBytes;
    track.rxBytes = c.rxBytes;
    this.finish(track, track.closing.t, track.closing.e);
  }

  /** Takes an event's counters; returns its time, never before the connection's latest,
   *  so that intervals cannot have negative durations or leave their parent. */
  private absorb(track: Track, e: TransitionEvent): number {
    const t = this.timeOf(track, e);
    track.txBytes = e.txBytes;
    track.rxBytes = e.rxBytes;
    return t;
  }

  private timeOf(track: Track, e: TransitionEvent): number {
    track.lastNs = Math.max(this.clampNs(e.tsNs), track.lastNs);
    return track.lastNs;
  }

  /**
   * The connection stays on the track of its first known owner even when the
   * socket changes hands (fd passing, fork, a listener's owner then the
   * acceptor): Perfetto keys a thread track by its pid, so moving the tid
   * would split one connection across processes. Later owners go into the
   * slice's args instead.
   */
  private ownerChanged(conn: Connection, e: TransitionEvent): void {
    const track = this.tracks.get(conn.sockId)!;
    const owner = ownerOf(conn);
    if (owner === null) return;
    if (track.owner === null) { track.owner = owner; return; }
    const latest = track.ownerChanges[track.ownerChanges.length - 1] ?? track.owner;
    if (latest.pid !== owner.pid && track.ownerChanges.length < MAX_OWNER_CHANGES) {
      track.ownerChanges.push({ ...owner, atUs: this.us(this.timeOf(track, e)) });
    }
  }

  private addChild(track: Track, child: Child): void {
    if (track.children.length < MAX_CHILDREN) track.children.push(child);
    else track.droppedChildren++;
  }

  private lost(l: TraceLost): void {
    this.lostCount += l.count;
    this.nameProcess(UNKNOWN_OWNER_PID, null);
    if (!this.lostTrackNamed) {
      this.emit({ name: 'thread_name', ph: 'M', ts: 0, pid: UNKNOWN_OWNER_PID, tid: LOST_TID, args: { name: 'lost events (tracer)' } });
      this.lostTrackNamed = true;
    }
    // A lost record has no time of its own: it is placed at the latest time seen.
    this.emit({
      name: 'lost events', cat: 'tracer', ph: 'i', s: 't', ts: this.us(this.lastNs),
      pid: UNKNOWN_OWNER_PID, tid: LOST_TID, args: { count: l.count, total: l.total },
    });
  }

  /** Writes a connection: names, its slice, then its children in time order. */
  private finish(track: Track, endNs: number, close: TransitionEvent | null): void {
    const begin = this.beginOf(track.conn), end = Math.max(endNs, track.lastNs);
    if (close === null && track.stateSinceNs !== null) this.addChild(track, stateChild(track, track.conn.state, end));
    const where = { pid: track.owner?.pid ?? UNKNOWN_OWNER_PID, tid: track.conn.sockId };
    const name = connectionName(track.conn);
    this.nameProcess(where.pid, track.owner);
    this.emit({ name: 'thread_name', ph: 'M', ts: 0, ...where, args: { name } });
    this.emit({
      name, cat: 'connection', ph: 'X', ts: this.us(begin), dur: (end - begin) / 1000,
      ...where, args: connectionArgs(track, close),
    });
    // Stable sort: an accept can arrive before the state slice around it has ended.
    const children = track.children.sort((x, y) => childStart(x) - childStart(y));
    for (const child of children) this.emit(this.childEvent(child, where));
    this.exported++;
  }

  private childEvent(child: Child, track: { pid: number; tid: number }): TraceEventOut {
    if (child.kind === 'instant') {
      return { name: child.name, cat: 'event', ph: 'i', s: 't', ts: this.us(child.tsNs), ...track, args: child.args };
    }
    const slice: TraceEventOut = {
      name: stateName(child.state), cat: 'state', ph: 'X',
      ts: this.us(child.beginNs), dur: (child.endNs - child.beginNs) / 1000, ...track,
    };
    if (child.inferred) slice.args = { inferred: true };
    return slice;
  }

  private nameProcess(pid: number, owner: Owner | null): void {
    if (this.namedPids.has(pid)) return;
    this.namedPids.add(pid);
    const name = pid === UNKNOWN_OWNER_PID ? 'unknown owner' : `${owner?.comm ?? '?'} (${pid})`;
    this.emit({ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name } });
  }

  private emit(event: TraceEventOut): void {
    this.write((this.firstEvent ? '\n' : ',\n') + JSON.stringify(event));
    this.firstEvent = false;
  }

  /** A connection born in view starts at its birth; one alive when tracing began, at the trace start. */
  private beginOf(conn: Connection): number {
    return conn.preexisting ? this.header.startNs : this.clampNs(conn.startNs);
  }

  /** Nothing before the recording's start: ts must not be negative. */
  private clampNs(tsNs: number): number {
    return Math.max(tsNs, this.header.startNs);
  }

  /** ns -> µs since start. Integer ns / 1000 prints as the exact decimal, so ts + dur of a
   *  child and of its parent meet exactly in the text. */
  private us(tsNs: number): number {
    return (tsNs - this.header.startNs) / 1000;
  }

  private metadata(endNs: number): Record<string, unknown> {
    const h = this.header, f = this.footer;
    return {
      source: 'tcptrace', traceFormat: h.format, traceVersion: h.version, host: h.host, kernel: h.kernel,
      startTime: h.startTime, startNs: h.startNs, wallOffsetMs: h.wallOffsetMs, options: h.options,
      endTime: f?.endTime ?? null, endNs, footerMissing: f === null, events: f?.events ?? null,
      counters: f?.counters ?? null, connections: this.exported, lostEvents: this.lostCount,
    };
  }
}

/** Who a connection's latest event named, if a process context did. */
function ownerOf(conn: Connection): Owner | null {
  if (conn.pid === null || conn.pid === 0) return null;
  return { pid: conn.pid, comm: conn.comm, source: conn.ownerSource };
}

/** The interval of `state` (the connection's current one) ending at endNs. */
function stateChild(track: Track, state: number, endNs: number): Child {
  return { kind: 'state', state, beginNs: track.stateSinceNs!, endNs, inferred: track.stateInferred };
}

function childStart(child: Child): number {
  return child.kind === 'state' ? child.beginNs : child.tsNs;
}

function connectionName(conn: Connection): string {
  return `${formatEndpoint(conn.saddr, conn.sport)} -> ${formatEndpoint(conn.daddr, conn.dport)}`;
}

function ownerLabel(owner: Owner): string {
  return `${owner.comm ?? '?'} (${owner.pid})`;
}

/**
 * What the slice's details panel shows. Bytes of a connection that ended are
 * its payload, as life prints them (the tracker's: no SYN or FIN); of one open
 * at the trace's end, the kernel's raw counters from its last event (tx counts
 * an acked SYN and FIN, rx the peer's FIN). error and peerFinReceived are the
 * ->CLOSE event's own fields.
 */
function connectionArgs(track: Track, close: TransitionEvent | null): Record<string, unknown> {
  const { conn } = track;
  const args: Record<string, unknown> = {
    sockId: conn.sockId, family: conn.family, netns: conn.netns,
    local: formatEndpoint(conn.saddr, conn.sport), remote: formatEndpoint(conn.daddr, conn.dport),
    owner: track.owner && ownerLabel(track.owner), ownerSource: track.owner?.source ?? null,
    preexisting: conn.preexisting, txBytes: track.txBytes, rxBytes: track.rxBytes,
    ended: close ? 'closed' : 'open at trace end',
  };
  if (close) Object.assign(args, { closedFrom: stateName(close.oldstate), error: close.error, peerFinReceived: close.peerFinReceived });
  if (track.ownerChanges.length > 0) {
    args.ownerChanges = track.ownerChanges.map((c) => ({ owner: ownerLabel(c), ownerSource: c.source, atUs: c.atUs }));
  }
  if (track.droppedChildren > 0) args.droppedChildren = track.droppedChildren;
  return args;
}
