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
import { Endpoints, OwnerSource, takeEndpoints } from '../kernel/decoder';
import { stateName, TCP } from '../kernel/states';
import { TraceEvent, TraceFile, TraceFooter, TraceHeader, TraceLine, TraceLost, TraceSocket } from '../trace/format';

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

interface OpenConnection extends Endpoints {
  /** The first known owner: its process track is the connection's for good. */
  owner: Owner | null;
  ownerChanges: OwnerChange[];
  /** Existed before its first event: it starts at the trace start. */
  preexisting: boolean;
  beginNs: number;
  /** null: just born, in no state of its own yet (before its first transition). */
  state: number | null;
  stateSinceNs: number;
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
}

export class PerfettoExporter {
  private readonly open = new Map<number, OpenConnection>();
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
    return this.open.size;
  }

  add(line: TraceLine): void {
    if (this.ended) throw new Error('PerfettoExporter: add() after end()');
    switch (line.type) {
      case 'header': return; // the constructor's
      case 'snapshot': this.seen(line.tsNs); return;
      case 'socket': if (line.phase === 'start') this.snapshotSocket(line); return;
      case 'file': this.snapshotFile(line); return;
      case 'event': this.event(line); return;
      case 'lost': this.lost(line); return;
      case 'footer': this.footer = line; return;
    }
  }

  /** Closes what is still open at the footer's endNs (or the last time seen), then the document. */
  end(): void {
    if (this.ended) throw new Error('PerfettoExporter: end() called twice');
    this.ended = true;
    const endNs = Math.max(this.footer?.endNs ?? this.lastNs, this.header.startNs);
    for (const conn of this.open.values()) this.finish(conn, endNs, null);
    this.open.clear();
    this.write(`\n],"displayTimeUnit":"ms","metadata":${JSON.stringify(this.metadata(endNs))}}\n`);
  }

  private seen(tsNs: number): void {
    if (tsNs > this.lastNs) this.lastNs = tsNs;
  }

  /** Sockets open when tracing began. Listeners and unconnected sockets are not connections;
   *  sockId 0 (TIME_WAIT, request sockets) is not followed by the tracer either. */
  private snapshotSocket(s: TraceSocket): void {
    if (s.sockId === 0 || s.state === TCP.LISTEN || s.state === TCP.CLOSE || this.open.has(s.sockId)) return;
    const conn = this.newConnection(s, this.header.startNs, true);
    conn.state = s.state;
    this.open.set(s.sockId, conn);
  }

  /** An fd holding the socket names its owner when no event has. Other holders of a shared
   *  socket are not owner changes, so only the first one counts. */
  private snapshotFile(f: TraceFile): void {
    const conn = this.open.get(f.sockId);
    if (conn && conn.owner === null) conn.owner = { pid: f.pid, comm: f.comm, source: 'snapshot' };
  }

  private event(e: TraceEvent): void {
    this.seen(e.tsNs);
    if (isListenerEvent(e)) return;
    const conn = this.open.get(e.sockId) ?? this.firstSight(e);
    if (e.kind === 'accept') this.accepted(conn, e);
    else this.transition(conn, e);
  }

  /** Born in view (from CLOSE, or a listener's child) or already alive when tracing began. */
  private firstSight(e: TraceEvent): OpenConnection {
    const born = isBirth(e);
    const conn = this.newConnection(e, born ? this.clampNs(e.tsNs) : this.header.startNs, !born);
    // An accept carries the current state in both fields; a transition leaves oldstate.
    if (!born) conn.state = e.kind === 'accept' ? e.newstate : e.oldstate;
    this.open.set(e.sockId, conn);
    return conn;
  }

  private newConnection(from: TraceSocket | TraceEvent, beginNs: number, preexisting: boolean): OpenConnection {
    return {
      sockId: from.sockId, family: from.family, saddr: from.saddr, sport: from.sport,
      daddr: from.daddr, dport: from.dport, netns: from.netns, owner: null, ownerChanges: [],
      preexisting, beginNs, state: null, stateSinceNs: beginNs, stateInferred: false, lastNs: beginNs,
      txBytes: null, rxBytes: null, children: [], droppedChildren: 0,
    };
  }

  private accepted(conn: OpenConnection, e: TraceEvent): void {
    const t = this.absorb(conn, e);
    this.addChild(conn, {
      kind: 'instant', name: 'accept', tsNs: t,
      args: { pid: e.pid, comm: e.comm, ownerSource: e.ownerSource, acceptQueueUs: e.prevStateNs === null ? null : e.prevStateNs / 1000 },
    });
  }

  private transition(conn: OpenConnection, e: TraceEvent): void {
    // The snapshot can list a socket whose birth event is written after it: the birth wins.
    if (conn.preexisting && conn.children.length === 0 && isBirth(e)) this.rebirth(conn, e.tsNs);
    const t = this.absorb(conn, e);
    if (conn.state !== null) this.addChild(conn, stateChild(conn, conn.state, t));
    conn.state = e.newstate;
    conn.stateSinceNs = t;
    conn.stateInferred = e.inferred;
    if (e.newstate === TCP.CLOSE) {
      this.open.delete(conn.sockId);
      this.finish(conn, t, e);
    }
  }

  private rebirth(conn: OpenConnection, tsNs: number): void {
    const t = this.clampNs(tsNs);
    Object.assign(conn, { preexisting: false, beginNs: t, state: null, stateSinceNs: t, lastNs: t });
  }

  /** Takes what an event says about its connection; returns its time, never before the connection's
   *  latest, so that intervals cannot have negative durations or leave their parent. */
  private absorb(conn: OpenConnection, e: TraceEvent): number {
    const t = Math.max(this.clampNs(e.tsNs), conn.lastNs);
    conn.lastNs = t;
    this.takeOwner(conn, e, t);
    takeEndpoints(conn, e);
    conn.txBytes = e.txBytes;
    conn.rxBytes = e.rxBytes;
    return t;
  }

  /**
   * The connection stays on the track of its first known owner even when the
   * socket changes hands (fd passing, fork, a listener's owner then the
   * acceptor): Perfetto keys a thread track by its pid, so moving the tid
   * would split one connection across processes. Later owners go into the
   * slice's args instead.
   */
  private takeOwner(conn: OpenConnection, e: TraceEvent, t: number): void {
    if (e.pid === null || e.pid === 0) return; // no process context named it
    const owner: Owner = { pid: e.pid, comm: e.comm, source: e.ownerSource };
    if (conn.owner === null) { conn.owner = owner; return; }
    const latest = conn.ownerChanges[conn.ownerChanges.length - 1] ?? conn.owner;
    if (latest.pid !== e.pid && conn.ownerChanges.length < MAX_OWNER_CHANGES) conn.ownerChanges.push({ ...owner, atUs: this.us(t) });
  }

  private addChild(conn: OpenConnection, child: Child): void {
    if (conn.children.length < MAX_CHILDREN) conn.children.push(child);
    else conn.droppedChildren++;
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
  private finish(conn: OpenConnection, endNs: number, close: TraceEvent | null): void {
    const end = Math.max(endNs, conn.lastNs);
    if (close === null && conn.state !== null) this.addChild(conn, stateChild(conn, conn.state, end));
    const track = { pid: conn.owner?.pid ?? UNKNOWN_OWNER_PID, tid: conn.sockId };
    const name = connectionName(conn);
    this.nameProcess(track.pid, conn.owner);
    this.emit({ name: 'thread_name', ph: 'M', ts: 0, ...track, args: { name } });
    this.emit({
      name, cat: 'connection', ph: 'X', ts: this.us(conn.beginNs), dur: (end - conn.beginNs) / 1000,
      ...track, args: connectionArgs(conn, close),
    });
    // Stable sort: an accept can arrive before the state slice around it has ended.
    const children = conn.children.sort((a, b) => childStart(a) - childStart(b));
    for (const child of children) this.emit(this.childEvent(child, track));
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

/** A listener's own transitions: it is no connection (its children are). */
function isListenerEvent(e: TraceEvent): boolean {
  return e.kind === 'transition' && (e.newstate === TCP.LISTEN || (e.oldstate === TCP.LISTEN && e.newstate === TCP.CLOSE));
}

/** connect() leaving CLOSE, or a listener's child created (its oldstate is the listener's). */
function isBirth(e: TraceEvent): boolean {
  return e.kind === 'transition' && (e.oldstate === TCP.CLOSE || e.oldstate === TCP.LISTEN);
}

/** The interval of `state` (the connection's current one) ending at endNs. */
function stateChild(conn: OpenConnection, state: number, endNs: number): Child {
  return { kind: 'state', state, beginNs: conn.stateSinceNs, endNs, inferred: conn.stateInferred };
}

function childStart(child: Child): number {
  return child.kind === 'state' ? child.beginNs : child.tsNs;
}

function connectionName(conn: OpenConnection): string {
  return `${formatEndpoint(conn.saddr, conn.sport)} -> ${formatEndpoint(conn.daddr, conn.dport)}`;
}

function ownerLabel(owner: Owner): string {
  return `${owner.comm ?? '?'} (${owner.pid})`;
}

/**
 * What the slice's details panel shows. Bytes are the kernel's raw counters
 * from the last event (tx counts an acked SYN and FIN, rx the peer's FIN);
 * error and peerFinReceived are the ->CLOSE event's own fields.
 */
function connectionArgs(conn: OpenConnection, close: TraceEvent | null): Record<string, unknown> {
  const args: Record<string, unknown> = {
    sockId: conn.sockId, family: conn.family, netns: conn.netns,
    local: formatEndpoint(conn.saddr, conn.sport), remote: formatEndpoint(conn.daddr, conn.dport),
    owner: conn.owner && ownerLabel(conn.owner), ownerSource: conn.owner?.source ?? null,
    preexisting: conn.preexisting, txBytes: conn.txBytes, rxBytes: conn.rxBytes,
    ended: close ? 'closed' : 'open at trace end',
  };
  if (close) Object.assign(args, { closedFrom: stateName(close.oldstate), error: close.error, peerFinReceived: close.peerFinReceived });
  if (conn.ownerChanges.length > 0) {
    args.ownerChanges = conn.ownerChanges.map((c) => ({ owner: ownerLabel(c), ownerSource: c.source, atUs: c.atUs }));
  }
  if (conn.droppedChildren > 0) args.droppedChildren = conn.droppedChildren;
  return args;
}
