import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotSocket, TransitionEvent } from '../../src/kernel/decoder';
import { TCP } from '../../src/kernel/states';
import { StateSeries } from '../../src/model/state-series';
import { ConnectionTracker } from '../../src/model/tracker';

const T0 = 5_000_000_000; // monotonic ns at the start snapshot
const S = 1e9;

function sock(state: number, sockId = 1): SnapshotSocket {
  return {
    skaddr: 'ffff888100000000', sockId, family: 4, saddr: '10.0.0.1', sport: 8080, daddr: '10.0.0.2',
    dport: 40000, netns: 4026531833, uid: 0, inode: 1, state,
  };
}

function ev(tsNs: number, oldstate: number, newstate: number, extra: Partial<TransitionEvent> = {}): TransitionEvent {
  return {
    kind: 'transition', tsNs, skaddr: 'ffff888100000000', sockId: 7, family: 4, saddr: '10.0.0.1', sport: 40000,
    daddr: '10.0.0.2', dport: 80, netns: 4026531833, oldstate, newstate, prevStateNs: null, pid: 42, comm: 'curl',
    cgroupId: null, ownerSource: 'syscall', inferred: false, txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
    ...extra,
  };
}

/** A StateSeries fed as a report feeds it: through a ConnectionTracker's callbacks. */
class FedSeries {
  private readonly series: StateSeries;
  private readonly tracker: ConnectionTracker;

  constructor(intervalMs?: number, maxPoints?: number) {
    this.series = new StateSeries(intervalMs, maxPoints);
    this.tracker = new ConnectionTracker(this.series.feed);
  }

  start(sockets: SnapshotSocket[], tsNs: number): void { this.tracker.loadSnapshot(sockets, tsNs); }
  apply(e: TransitionEvent): void { this.tracker.apply([e]); }
  finish(endNs: number): void { this.series.finish(endNs); }
  points(): ReturnType<StateSeries['points']> { return this.series.points(); }
  get intervalMs(): number { return this.series.intervalMs; }
}

/** [seconds since T0, counts] per point, for readable expectations. */
function table(series: FedSeries): [number, Record<string, number>][] {
  return series.points().map((p) => [(p.tsNs - T0) / S, p.counts]);
}

test('the first point is the start snapshot, counted by state name; CLOSE sockets are not counted', () => {
  const s = new FedSeries();
  s.start([sock(TCP.LISTEN), sock(TCP.LISTEN), sock(TCP.ESTABLISHED), sock(TCP.CLOSE_WAIT), sock(TCP.CLOSE)], T0);
  s.finish(T0);
  assert.deepEqual(table(s), [[0, { ESTABLISHED: 1, CLOSE_WAIT: 1, LISTEN: 2 }]]);
});

test('one point per interval boundary, each with the counts at that instant', () => {
  const s = new FedSeries(1000);
  s.start([sock(TCP.LISTEN)], T0);
  s.apply(ev(T0 + 0.5 * S, TCP.CLOSE, TCP.SYN_SENT));
  s.apply(ev(T0 + 0.6 * S, TCP.SYN_SENT, TCP.ESTABLISHED));
  s.apply(ev(T0 + 1.5 * S, TCP.ESTABLISHED, TCP.CLOSE_WAIT));
  s.apply(ev(T0 + 2.5 * S, TCP.CLOSE_WAIT, TCP.LAST_ACK));
  s.apply(ev(T0 + 2.6 * S, TCP.LAST_ACK, TCP.CLOSE));
  s.finish(T0 + 3 * S);
  const zero = { ESTABLISHED: 0, SYN_SENT: 0, CLOSE_WAIT: 0, LAST_ACK: 0, LISTEN: 1 };
  assert.deepEqual(table(s), [
    [0, zero],
    [1, { ...zero, ESTABLISHED: 1 }],
    [2, { ...zero, CLOSE_WAIT: 1 }],
    [3, zero],
  ]);
});

test('an event exactly at a boundary counts at it; one just after does not', () => {
  const s = new FedSeries(1000);
  s.start([], T0);
  s.apply(ev(T0 + 1 * S, TCP.CLOSE, TCP.SYN_SENT, { sockId: 1 }));
  s.apply(ev(T0 + 2 * S + 1, TCP.CLOSE, TCP.SYN_SENT, { sockId: 2 }));
  s.finish(T0 + 2 * S);
  assert.deepEqual(table(s).map(([t, c]) => [t, c.SYN_SENT]), [[0, 0], [1, 1], [2, 1]]);
});

test('the end of the trace adds a last point off the grid', () => {
  const s = new FedSeries(1000);
  s.start([sock(TCP.ESTABLISHED)], T0);
  s.apply(ev(T0 + 1.2 * S, TCP.ESTABLISHED, TCP.FIN_WAIT1));
  s.finish(T0 + 1.25 * S);
  assert.deepEqual(table(s), [
    [0, { ESTABLISHED: 1, FIN_WAIT1: 0 }],
    [1, { ESTABLISHED: 1, FIN_WAIT1: 0 }],
    [1.25, { ESTABLISHED: 0, FIN_WAIT1: 1 }],
  ]);
});

test('a child socket born from a listener leaves the listener in LISTEN', () => {
  const s = new FedSeries(1000);
  s.start([sock(TCP.LISTEN)], T0);
  s.apply(ev(T0 + 0.1 * S, TCP.LISTEN, TCP.SYN_RECV, { sockId: 1 }));
  s.apply(ev(T0 + 0.2 * S, TCP.SYN_RECV, TCP.ESTABLISHED, { sockId: 1 }));
  s.apply(ev(T0 + 0.3 * S, TCP.LISTEN, TCP.SYN_RECV, { sockId: 2 }));
  s.finish(T0 + 1 * S);
  assert.deepEqual(table(s).at(-1), [1, { ESTABLISHED: 1, SYN_RECV: 1, LISTEN: 1 }]);
});

test('a listener closing leaves LISTEN', () => {
  const s = new FedSeries(1000);
  s.start([sock(TCP.LISTEN), sock(TCP.LISTEN)], T0);
  s.apply(ev(T0 + 0.1 * S, TCP.LISTEN, TCP.CLOSE));
  s.finish(T0 + 1 * S);
  assert.deepEqual(table(s).at(-1), [1, { LISTEN: 1 }]);
});

test('counts never go below 0 when a socket leaves a state it was not counted in', () => {
  const s = new FedSeries(1000);
  s.start([], T0);
  s.apply(ev(T0 + 0.1 * S, TCP.ESTABLISHED, TCP.CLOSE_WAIT));
  s.apply(ev(T0 + 0.2 * S, TCP.CLOSE, TCP.SYN_SENT));
  s.apply(ev(T0 + 0.3 * S, TCP.SYN_SENT, TCP.ESTABLISHED));
  s.finish(T0 + 1 * S);
  assert.deepEqual(table(s).at(-1), [1, { ESTABLISHED: 1, SYN_SENT: 0, CLOSE_WAIT: 1 }]);
});

test('FIN_WAIT2 -> CLOSE with the peer FIN in leaves a TIME_WAIT socket for 60 s', () => {
  const s = new FedSeries(10_000);
  s.start([sock(TCP.FIN_WAIT2)], T0);
  s.apply(ev(T0 + 5 * S, TCP.FIN_WAIT2, TCP.CLOSE, { peerFinReceived: true }));
  s.finish(T0 + 70 * S);
  assert.deepEqual(table(s).map(([t, c]) => [t, c.TIME_WAIT, c.FIN_WAIT2]), [
    [0, 0, 1], [10, 1, 0], [20, 1, 0], [30, 1, 0], [40, 1, 0], [50, 1, 0], [60, 1, 0], [70, 0, 0],
  ]);
});

test('TIME_WAIT expires exactly TCP_TIMEWAIT_LEN after the close', () => {
  const s = new FedSeries(1000);
  s.start([], T0);
  s.apply(ev(T0 + 1 * S, TCP.CLOSING, TCP.CLOSE));
  s.finish(T0 + 62 * S);
  const tw = new Map(table(s).map(([t, c]) => [t, c.TIME_WAIT]));
  assert.equal(tw.get(0), 0);
  assert.equal(tw.get(1), 1);
  assert.equal(tw.get(60), 1);
  assert.equal(tw.get(61), 0);
});

test('only a clean FIN_WAIT2 (peer FIN in) or CLOSING close makes a TIME_WAIT', () => {
  const s = new FedSeries(1000);
  s.start([], T0);
  s.apply(ev(T0 + 0.1 * S, TCP.FIN_WAIT2, TCP.CLOSE, { peerFinReceived: true, sockId: 1 })); // TIME_WAIT
  s.apply(ev(T0 + 0.2 * S, TCP.CLOSING, TCP.CLOSE, { sockId: 2 })); // TIME_WAIT
  s.apply(ev(T0 + 0.3 * S, TCP.FIN_WAIT2, TCP.CLOSE, { peerFinReceived: false, sockId: 3 })); // orphan FIN_WAIT2
  s.apply(ev(T0 + 0.4 * S, TCP.CLOSING, TCP.CLOSE, { error: 104, sockId: 4 })); // reset
  s.apply(ev(T0 + 0.5 * S, TCP.FIN_WAIT2, TCP.CLOSE, { peerFinReceived: true, error: 110, sockId: 5 }));
  s.apply(ev(T0 + 0.6 * S, TCP.LAST_ACK, TCP.CLOSE, { sockId: 6 })); // passive close: no TIME_WAIT
  s.apply(ev(T0 + 0.7 * S, TCP.ESTABLISHED, TCP.CLOSE, { sockId: 7 }));
  s.finish(T0 + 1 * S);
  assert.equal(table(s).at(-1)![1].TIME_WAIT, 2);
});

test('start-snapshot TIME_WAIT sockets are gone 60 s after the start at the latest', () => {
  const s = new FedSeries(1000);
  s.start([sock(TCP.TIME_WAIT, 0), sock(TCP.TIME_WAIT, 0), sock(TCP.ESTABLISHED)], T0);
  s.finish(T0 + 61 * S);
  const tw = new Map(table(s).map(([t, c]) => [t, c.TIME_WAIT]));
  assert.equal(tw.get(0), 2);
  assert.equal(tw.get(59), 2);
  assert.equal(tw.get(60), 0);
  assert.equal(table(s).at(-1)![1].ESTABLISHED, 1);
});

test('accept events are ignored', () => {
  const s = new FedSeries(1000);
  s.start([sock(TCP.ESTABLISHED)], T0);
  s.apply(ev(T0 + 0.5 * S, TCP.ESTABLISHED, TCP.ESTABLISHED, { kind: 'accept' }));
  s.apply(ev(T0 + 0.6 * S, TCP.ESTABLISHED, TCP.CLOSE_WAIT, { kind: 'accept' }));
  s.finish(T0 + 1 * S);
  assert.deepEqual(table(s), [[0, { ESTABLISHED: 1 }], [1, { ESTABLISHED: 1 }]]);
});

test('a long trace is downsampled to at most 2,000 evenly spaced points, each exact', () => {
  const s = new FedSeries(1000);
  s.start([], T0);
  // One new connection every second, just after the boundary: at t s there are t of them.
  for (let i = 0; i < 3600; i++) s.apply(ev(T0 + i * S + 1, TCP.CLOSE, TCP.SYN_SENT, { sockId: i + 1 }));
  s.finish(T0 + 3600 * S);
  const pts = table(s);
  assert.ok(pts.length <= 2000, `${pts.length} points`);
  // 3601 boundaries at 1 s: halved once to 2 s, so 1801 points at 0, 2, ..., 3600 s.
  assert.equal(s.intervalMs, 2000);
  assert.equal(pts.length, 1801);
  pts.forEach(([t, c], i) => {
    assert.equal(t, 2 * i);
    assert.equal(c.SYN_SENT, t);
  });
});

test('downsampling halves again and again, keeping the grid aligned to the start', () => {
  const s = new FedSeries(1000, 4);
  s.start([], T0);
  for (let i = 0; i < 20; i++) s.apply(ev(T0 + i * S + 1, TCP.CLOSE, TCP.ESTABLISHED, { sockId: i + 1 }));
  s.finish(T0 + 21.5 * S);
  // Boundaries 0..3 -> 0,2 at 2 s; then 0,2,4,6 -> 0,4 at 4 s; 0,4,8,12 -> 0,8 at 8 s; 16; then the end.
  assert.equal(s.intervalMs, 8000);
  assert.deepEqual(table(s).map(([t, c]) => [t, c.ESTABLISHED]), [[0, 0], [8, 8], [16, 16], [21.5, 20]]);
});

test('misuse is refused', () => {
  assert.throws(() => new FedSeries(0), RangeError);
  assert.throws(() => new FedSeries(1000).apply(ev(T0, TCP.CLOSE, TCP.SYN_SENT)), /before start/);
  const s = new FedSeries();
  s.start([], T0);
  s.finish(T0);
  assert.throws(() => s.apply(ev(T0 + 1, TCP.CLOSE, TCP.SYN_SENT)), /after finish/);
});
