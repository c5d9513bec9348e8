/**
 * The per-connection story: each socket followed from birth (or from the
 * start-up snapshot) to CLOSE, with the time spent in every state, who closed
 * first, how it ended, and the measurements the histograms are made of.
 */
import { Endpoints, KernelConnection, MeasureKind, OwnerSource, SnapshotSocket, takeEndpoints, TransitionEvent } from '../kernel/decoder';
import { stateName, TCP } from '../kernel/states';

const ECONNRESET = 104, ECONNREFUSED = 111, ETIMEDOUT = 110, EPIPE = 32;

export type Ending = 'active' | 'passive' | 'simultaneous' | 'reset' | 'refused' | 'timeout' | 'aborted';

/** What the kernel keeps after a connection's socket is gone: never traced, inferred. */
export type Afterlife = 'TIME_WAIT' | 'FIN_WAIT2' | null;

export interface Connection extends Endpoints {
  pid: number | null;
  comm: string | null;
  /** The owner's cgroup id (see TransitionEvent.cgroupId). */
  cgroupId: number | null;
  ownerSource: OwnerSource;
  /** The process that connected it or accept()ed it, when seen: fds move, this does not. */
  openedBy: { pid: number; comm: string | null } | null;
  /** client: this side connected; server: accepted child of a listener. */
  role: 'client' | 'server' | null;
  /** Open before tracing began: its start and first state's age are not known. */
  preexisting: boolean;
  /** Birth, or first sight for a pre-existing connection (monotonic ns). */
  startNs: number;
  state: number;
  /** When the current state was entered; null if before tracing began. */
  stateSinceNs: number | null;
  /** Completed time per state name, for states whose start was seen. */
  dwellNs: Record<string, number>;
  closedFirst: 'local' | 'remote' | null;
  /** The kernel's byte counters include an acked SYN (active open) and our acked FIN. */
  synAcked: boolean;
  finAcked: boolean;
}

export interface FinishedConnection extends Connection {
  endNs: number;
  lifetimeNs: number;
  lifetimeIsLowerBound: boolean;
  ending: Ending;
  afterlife: Afterlife;
  /** Payload bytes: sent and acknowledged, and received (no SYN or FIN). */
  txBytes: number;
  rxBytes: number;
  error: number;
  /** The RST that ended it: the peer's, or this side's (an abort) with the kernel's reason where it gives one. */
  reset: 'received' | 'sent' | null;
  resetReason: string | null;
}

/** The measures are the kernel's (enum tcptrace_measure), which counts them too. */
export type { MeasureKind } from '../kernel/decoder';

/**
 * What the tracker tells its consumers, in event order. Each is optional and
 * costs nothing unless set: hist runs the tracker on its hot path.
 */
export interface TrackerHandlers {
  /** The start snapshot as loaded, every socket in it (listeners, timewait and request sockets too). */
  onSnapshot?(sockets: SnapshotSocket[], nowNs: number): void;
  /** A connection followed from now on: born in view, or first seen (conn.preexisting) in the
   *  snapshot or mid-life. A birth that replaces a snapshot entry comes here again. */
  onOpened?(conn: Connection): void;
  /** Any socket's transition, a listener's too (conn null). Called before conn takes it: conn.state
   *  and stateSinceNs are still those it leaves (for a new connection, the birth's oldstate). */
  onTransition?(e: TransitionEvent, conn: Connection | null): void;
  /** accept() returned a followed connection. */
  onAccepted?(conn: Connection, e: TransitionEvent): void;
  /** A process other than the one last seen owns conn now (conn.pid and the rest are the new owner's). */
  onOwnerChanged?(conn: Connection, e: TransitionEvent): void;
  onFinished?(conn: FinishedConnection): void;
  /** A duration in ns: connect latency, accept-queue wait, lifetime, time to close, time in FIN_WAIT2. */
  onMeasure?(kind: MeasureKind, ns: number, conn: Connection): void;
}

/** Sockets followed at most; beyond it the oldest are dropped (and counted). */
const MAX_OPEN = 500_000;

export class ConnectionTracker {
  private readonly open = new Map<number, Connection>();
  private readonly listeners = new Set<number>();
  dropped = 0;

  constructor(private readonly handlers: TrackerHandlers = {}) {}

  get size(): number {
    return this.open.size;
  }

  connections(): IterableIterator<Connection> {
    return this.open.values();
  }

  /** Sockets present when tracing started (their ages are lower bounds). */
  loadSnapshot(sockets: SnapshotSocket[], nowNs: number): void {
    this.handlers.onSnapshot?.(sockets, nowNs);
    const roles = snapshotRoles(sockets);
    for (const s of sockets) {
      if (s.state === TCP.LISTEN && s.sockId) this.listeners.add(s.sockId);
      const role = roles.get(s.sockId);
      if (!role) continue;
      this.add({
        sockId: s.sockId, family: s.family, saddr: s.saddr, sport: s.sport, daddr: s.daddr, dport: s.dport,
        netns: s.netns, pid: null, comm: null, cgroupId: null, ownerSource: null, openedBy: null, role, preexisting: true,
        startNs: nowNs, state: s.state, stateSinceNs: null, dwellNs: {}, synAcked: role === 'client',
        ...closingSoFar(s.state),
      });
    }
  }

  apply(events: TransitionEvent[]): void {
    for (const e of events) {
      if (e.kind === 'accept') this.accepted(e);
      else this.transition(e);
    }
  }

  private accepted(e: TransitionEvent): void {
    const conn = this.open.get(e.sockId);
    if (!conn) return;
    this.takeOwner(conn, e);
    takeEndpoints(conn, e);
    if (e.pid !== null) conn.openedBy = { pid: e.pid, comm: e.comm };
    if (e.prevStateNs !== null) this.handlers.onMeasure?.('accept', e.prevStateNs, conn);
    this.handlers.onAccepted?.(conn, e);
  }

  private transition(e: TransitionEvent): void {
    if (e.newstate === TCP.LISTEN || e.oldstate === TCP.LISTEN && e.newstate === TCP.CLOSE) {
      this.trackListener(e);
      this.handlers.onTransition?.(e, null);
      return;
    }
    // A birth wins over a snapshot entry: the socket was born between attach and snapshot.
    const known = this.open.get(e.sockId);
    const conn = known && !(known.preexisting && isBirth(e)) ? known : this.born(e);
    this.takeOwner(conn, e);
    takeEndpoints(conn, e);
    leave(conn, e);
    this.measureTransition(conn, e);
    this.handlers.onTransition?.(e, conn);
    conn.state = e.newstate;
    conn.stateSinceNs = e.tsNs;
    if (e.newstate === TCP.CLOSE) this.finish(conn, e);
  }

  private trackListener(e: TransitionEvent): void {
    if (e.newstate === TCP.LISTEN) this.listeners.add(e.sockId);
    else this.listeners.delete(e.sockId);
  }

  private born(e: TransitionEvent): Connection {
    const role = e.oldstate === TCP.CLOSE ? 'client' : e.oldstate === TCP.LISTEN ? 'server' : null;
    return this.add({
      sockId: e.sockId, family: e.family, saddr: e.saddr, sport: e.sport, daddr: e.daddr, dport: e.dport,
      netns: e.netns, pid: e.pid, comm: e.comm, cgroupId: e.cgroupId, ownerSource: e.ownerSource, role,
      openedBy: e.ownerSource === 'syscall' && e.pid !== null ? { pid: e.pid, comm: e.comm } : null,
      preexisting: role === null, startNs: e.tsNs, state: e.oldstate,
      stateSinceNs: role === null ? null : e.tsNs, dwellNs: {}, synAcked: false,
      ...closingSoFar(e.oldstate),
    });
  }

  private add(conn: Connection): Connection {
    if (this.open.size >= MAX_OPEN) {
      const oldest = this.open.keys().next().value as number;
      this.open.delete(oldest);
      this.dropped++;
    }
    this.open.set(conn.sockId, conn);
    this.handlers.onOpened?.(conn);
    return conn;
  }

  private takeOwner(conn: Connection, e: TransitionEvent): void {
    if (e.pid === null) return;
    const changed = conn.pid !== e.pid;
    conn.pid = e.pid;
    conn.comm = e.comm;
    conn.cgroupId = e.cgroupId;
    conn.ownerSource = e.ownerSource;
    if (changed) this.handlers.onOwnerChanged?.(conn, e);
  }

  private measureTransition(conn: Connection, e: TransitionEvent): void {
    const measure = this.handlers.onMeasure;
    if (!measure || e.prevStateNs === null || e.inferred) return;
    if (e.oldstate === TCP.SYN_SENT && e.newstate === TCP.ESTABLISHED) measure('connect', e.prevStateNs, conn);
    if (e.oldstate === TCP.CLOSE_WAIT) measure('closeWait', e.prevStateNs, conn);
    if (e.oldstate === TCP.FIN_WAIT2) measure('finWait2', e.prevStateNs, conn);
  }

  private finish(conn: Connection, e: TransitionEvent): void {
    this.open.delete(conn.sockId);
    if (!conn.preexisting) this.handlers.onMeasure?.('lifetime', e.tsNs - conn.startNs, conn);
    // Built only for a reader: under a storm this copy was a fifth of hist's time.
    if (this.handlers.onFinished) this.handlers.onFinished(finished(conn, e));
  }
}

/** What a transition tells of the connection it leaves a state of. */
function leave(conn: Connection, e: TransitionEvent): void {
  const left = stateName(e.oldstate);
  if (e.prevStateNs !== null && !(e.oldstate === TCP.CLOSE || e.oldstate === TCP.LISTEN)) {
    conn.dwellNs[left] = (conn.dwellNs[left] ?? 0) + e.prevStateNs;
  }
  if (conn.closedFirst === null) {
    if (e.newstate === TCP.FIN_WAIT1) conn.closedFirst = 'local';
    if (e.newstate === TCP.CLOSE_WAIT) conn.closedFirst = 'remote';
  }
  if (e.oldstate === TCP.SYN_SENT && e.newstate === TCP.ESTABLISHED) conn.synAcked = true;
  if (finAckedBy(e)) conn.finAcked = true;
}

/** A connection as it ends with `last`, its ->CLOSE (already applied by leave). */
function finished(conn: Connection, last: TransitionEvent): FinishedConnection {
  // Field by field, not {...conn, ...}: V8 made that spread 35 us a connection,
  // more than all else life does (TypeScript still checks every field is here).
  return {
    sockId: conn.sockId, family: conn.family, saddr: conn.saddr, sport: conn.sport, daddr: conn.daddr, dport: conn.dport,
    netns: conn.netns, pid: conn.pid, comm: conn.comm, cgroupId: conn.cgroupId, ownerSource: conn.ownerSource,
    openedBy: conn.openedBy, role: conn.role, preexisting: conn.preexisting, startNs: conn.startNs, state: conn.state,
    stateSinceNs: conn.stateSinceNs, dwellNs: conn.dwellNs, closedFirst: conn.closedFirst, synAcked: conn.synAcked,
    finAcked: conn.finAcked,
    endNs: last.tsNs,
    lifetimeNs: last.tsNs - conn.startNs,
    lifetimeIsLowerBound: conn.preexisting,
    ending: endingOf(last),
    afterlife: afterlifeOf(last),
    txBytes: Math.max(0, last.txBytes - Number(conn.synAcked) - Number(conn.finAcked)),
    rxBytes: Math.max(0, last.rxBytes - Number(last.peerFinReceived)),
    error: last.error,
    reset: last.reset ?? null,
    resetReason: last.resetReason ?? null,
  };
}

/**
 * What a connection the start snapshot lists was, by its sockId: its birth was
 * not seen, so on a listening port it was accepted, else it connected. TIME_WAIT
 * and request sockets are not followed; listeners and unconnected sockets are
 * no connections.
 */
export function snapshotRoles(sockets: SnapshotSocket[]): Map<number, 'client' | 'server'> {
  const listening = new Set(sockets.filter((s) => s.state === TCP.LISTEN).map((s) => `${s.netns}:${s.sport}`));
  const roles = new Map<number, 'client' | 'server'>();
  for (const s of sockets) {
    if (s.sockId === 0 || s.state === TCP.CLOSE || s.state === TCP.LISTEN) continue;
    roles.set(s.sockId, listening.has(`${s.netns}:${s.sport}`) ? 'server' : 'client');
  }
  return roles;
}

/**
 * A connection the kernel side followed itself (life's records), finished
 * here by the same rules as one the tracker followed: `snapshotRole` is its
 * role by the start snapshot, for one that predates the trace.
 */
export function finishKernelConnection(k: KernelConnection, snapshotRole?: 'client' | 'server'): FinishedConnection {
  const e = k.last;
  const role = k.role ?? snapshotRole ?? null;
  const conn: Connection = {
    sockId: e.sockId, family: e.family, saddr: e.saddr, sport: e.sport, daddr: e.daddr, dport: e.dport, netns: e.netns,
    pid: e.pid, comm: e.comm, cgroupId: e.cgroupId, ownerSource: e.ownerSource, openedBy: k.openedBy, role,
    preexisting: !k.born, startNs: k.startNs, state: e.oldstate, stateSinceNs: null, dwellNs: k.dwellNs,
    closedFirst: k.closedFirst, synAcked: k.synAcked || (!k.born && snapshotRole === 'client'), finAcked: k.finAcked,
  };
  leave(conn, e);
  return finished(conn, e);
}

/** How a connection ended, from its last transition and the kernel's own error. */
export function endingOf(last: TransitionEvent): Ending {
  if (last.error === ECONNREFUSED) return 'refused';
  if (last.error === ETIMEDOUT) return 'timeout';
  if (last.reset || last.error === ECONNRESET || last.error === EPIPE) return 'reset';
  switch (last.oldstate) {
    case TCP.LAST_ACK: return 'passive';
    case TCP.CLOSING: return 'simultaneous';
    case TCP.FIN_WAIT2: return 'active';
    // Closed by its own program while connecting, with no error from the peer.
    case TCP.SYN_SENT: return 'aborted';
    // ESTABLISHED, CLOSE_WAIT, SYN_RECV, FIN_WAIT1 straight to CLOSE: a reset, sent or received.
    default: return 'reset';
  }
}

/** A socket starts here, leaving no state of its own: connect() out of CLOSE, or a listener's
 *  child (cloned in its listener's LISTEN, which the listener keeps). */
export function isBirth(e: TransitionEvent): boolean {
  return e.oldstate === TCP.CLOSE || (e.oldstate === TCP.LISTEN && e.newstate === TCP.SYN_RECV);
}

/** For a connection first seen in `state`: who had closed, and whether our FIN was acked. */
function closingSoFar(state: number): Pick<Connection, 'closedFirst' | 'finAcked'> {
  switch (state) {
    case TCP.FIN_WAIT1: case TCP.CLOSING: return { closedFirst: 'local', finAcked: false };
    case TCP.FIN_WAIT2: return { closedFirst: 'local', finAcked: true };
    case TCP.CLOSE_WAIT: case TCP.LAST_ACK: return { closedFirst: 'remote', finAcked: false };
    default: return { closedFirst: null, finAcked: false };
  }
}

/** Transitions that only happen once the peer has acknowledged our FIN (a
 *  reset or timeout out of LAST_ACK or CLOSING is not one). */
function finAckedBy(e: TransitionEvent): boolean {
  if (e.error) return false;
  return (e.oldstate === TCP.FIN_WAIT1 && e.newstate === TCP.FIN_WAIT2) ||
    (e.oldstate === TCP.CLOSING && e.newstate === TCP.CLOSE) ||
    (e.oldstate === TCP.LAST_ACK && e.newstate === TCP.CLOSE);
}

/**
 * The timewait socket the kernel makes in place of this one, if any: TIME_WAIT
 * once the peer's FIN is in, or a FIN_WAIT2 timewait socket (an orphan whose
 * peer has not closed yet) that waits up to tcp_fin_timeout for it.
 */
export function afterlifeOf(last: TransitionEvent): Afterlife {
  if (last.error || last.reset) return null; // tcp_reset, tcp_write_err and an abort end it outright
  if (last.oldstate === TCP.CLOSING) return 'TIME_WAIT';
  if (last.oldstate === TCP.FIN_WAIT2) return last.peerFinReceived ? 'TIME_WAIT' : 'FIN_WAIT2';
  return null;
}
