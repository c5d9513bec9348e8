/**
 * Sockets per TCP state over time, for a report's chart: the start snapshot's
 * counts, moved by every transition, sampled at fixed interval boundaries.
 * Fed by a ConnectionTracker (see feed): the tracker says what a transition is.
 *
 * Sockets the trace cannot follow are counted with an expiry:
 * - TIME_WAIT never appears as a transition (the kernel swaps in a separate
 *   timewait socket). A connection that ends FIN_WAIT2 -> CLOSE with the
 *   peer's FIN in, or CLOSING -> CLOSE, without error, leaves one TIME_WAIT
 *   socket for TCP_TIMEWAIT_LEN (60 s).
 * - The start snapshot's TIME_WAIT and request (NEW_SYN_RECV) sockets carry
 *   no history: see start().
 * An orphaned FIN_WAIT2 (FIN_WAIT2 -> CLOSE before the peer's FIN) also lives
 * on as a timewait socket for up to tcp_fin_timeout; it is not counted here.
 */
import { SnapshotSocket, TransitionEvent } from '../kernel/decoder';
import { stateName, TCP, TIME_WAIT_SECONDS } from '../kernel/states';
import { afterlifeOf, isBirth, TrackerHandlers } from './tracker';

export interface StatePoint {
  tsNs: number;
  counts: Record<string, number>;
}

const TIME_WAIT_NS = TIME_WAIT_SECONDS * 1e9;
/** A request socket waits for the handshake's last ACK while SYN-ACKs are
 *  retried: 1 + 2 + 4 + 8 + 16 + 32 s with the default tcp_synack_retries (5). */
export const REQUEST_SOCK_NS = 63e9;
export const MAX_POINTS = 2000;

export class StateSeries {
  private readonly counts = new Map<number, number>();
  /** Every state that has been counted, so every point can name it (as 0 too). */
  private readonly seen = new Set<number>();
  /** Sockets that leave no transition when they go: expiry time and state, in time order. */
  private readonly expiries: { atNs: number; state: number }[] = [];
  private readonly pts: { tsNs: number; counts: Map<number, number> }[] = [];
  private stepNs: number;
  private nextNs = 0;
  private started = false;
  private finished = false;

  /** The tracker's callbacks that move the counts: spread them into its handlers. */
  readonly feed: Pick<TrackerHandlers, 'onSnapshot' | 'onTransition'> = {
    onSnapshot: (sockets, tsNs) => this.start(sockets, tsNs),
    onTransition: (e) => this.apply(e),
  };

  /** intervalMs: the time between points (doubled each time maxPoints is reached). */
  constructor(intervalMs = 1000, private readonly maxPoints = MAX_POINTS) {
    if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`);
    if (!Number.isInteger(maxPoints) || maxPoints < 2) throw new RangeError(`maxPoints must be an integer >= 2, got ${maxPoints}`);
    this.stepNs = intervalMs * 1e6;
  }

  /** The start snapshot, taken at tsNs: the first point is at tsNs. */
  start(sockets: SnapshotSocket[], tsNs: number): void {
    if (this.started) throw new Error('StateSeries.start() called twice');
    this.started = true;
    this.nextNs = tsNs;
    for (const s of sockets) {
      if (s.state === TCP.CLOSE) continue;
      this.add(s.state, 1);
      // How long these have left is unknown (the snapshot does not say when a
      // timewait socket was made, nor how far a request socket's SYN-ACK
      // retries are): each goes at the latest a full lifetime after the start,
      // so its count is an upper bound until then.
      if (s.state === TCP.TIME_WAIT) this.expireAt(tsNs + TIME_WAIT_NS, s.state);
      else if (s.state === TCP.NEW_SYN_RECV) this.expireAt(tsNs + REQUEST_SOCK_NS, s.state);
    }
  }

  /** One transition, in time order (a little out of order across CPUs is harmless). */
  apply(e: TransitionEvent): void {
    if (!this.started) throw new Error('StateSeries.apply() before start()');
    if (this.finished) throw new Error('StateSeries.apply() after finish()');
    // Boundaries before the event see the counts without it; one at its instant, with it.
    this.advance(e.tsNs, false);
    if (!isBirth(e)) this.add(e.oldstate, -1);
    if (e.newstate !== TCP.CLOSE) this.add(e.newstate, 1);
    else if (afterlifeOf(e) === 'TIME_WAIT') {
      this.add(TCP.TIME_WAIT, 1);
      this.expireAt(e.tsNs + TIME_WAIT_NS, TCP.TIME_WAIT);
    }
  }

  /** The end of the trace: points up to endNs, and one at endNs itself. */
  finish(endNs: number): void {
    if (!this.started) throw new Error('StateSeries.finish() before start()');
    if (this.finished) return;
    this.finished = true;
    this.advance(endNs, true);
    const last = this.pts.at(-1);
    // Boundary points number at most maxPoints - 1 (see emit()): this one fits.
    if (!last || last.tsNs < endNs) {
      this.expireUpTo(endNs);
      this.pts.push({ tsNs: endNs, counts: new Map(this.counts) });
    }
  }

  /**
   * The counts at each boundary, every point naming every state counted at
   * any time (in the kernel's state order). At most maxPoints: when the
   * boundaries reach maxPoints, every other one is dropped and the interval
   * doubles, so the points kept stay evenly spaced from the start (each still
   * the exact counts at its instant; what happened between two is not shown).
   * A long trace ends up at an interval of intervalMs * 2^n, with between
   * maxPoints / 2 and maxPoints points.
   */
  points(): StatePoint[] {
    const states = [...this.seen].sort((a, b) => a - b);
    return this.pts.map((p) => ({
      tsNs: p.tsNs,
      counts: Object.fromEntries(states.map((s) => [stateName(s), p.counts.get(s) ?? 0])),
    }));
  }

  /** The interval between points now, ms (after any doubling). */
  get intervalMs(): number {
    return this.stepNs / 1e6;
  }

  private add(state: number, delta: number): void {
    this.seen.add(state);
    // Never below 0: a socket whose entry into a state was not seen (an event lost).
    this.counts.set(state, Math.max(0, (this.counts.get(state) ?? 0) + delta));
  }

  private expireAt(atNs: number, state: number): void {
    let i = this.expiries.length;
    while (i > 0 && this.expiries[i - 1].atNs > atNs) i--;
    this.expiries.splice(i, 0, { atNs, state });
  }

  /** Sockets that are gone by tNs (one expiring exactly at tNs is gone). */
  private expireUpTo(tNs: number): void {
    let n = 0;
    while (n < this.expiries.length && this.expiries[n].atNs <= tNs) this.add(this.expiries[n++].state, -1);
    if (n) this.expiries.splice(0, n);
  }

  /** Emits every boundary before tNs (and at tNs if inclusive). */
  private advance(tNs: number, inclusive: boolean): void {
    while (inclusive ? this.nextNs <= tNs : this.nextNs < tNs) this.emit();
  }

  private emit(): void {
    const at = this.nextNs;
    this.expireUpTo(at);
    this.pts.push({ tsNs: at, counts: new Map(this.counts) });
    this.nextNs = at + this.stepNs;
    if (this.pts.length < this.maxPoints) return;
    // Keep the points at even positions: they are the boundaries of an interval twice as long.
    let kept = 0;
    for (let i = 0; i < this.pts.length; i += 2) this.pts[kept++] = this.pts[i];
    this.pts.length = kept;
    this.stepNs *= 2;
    this.nextNs = this.pts[kept - 1].tsNs + this.stepNs;
  }
}
