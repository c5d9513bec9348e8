import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { TransitionEvent } from '../../src/kernel/decoder';
import { LOST_TID, PerfettoExporter, TraceEventOut, UNKNOWN_OWNER_PID } from '../../src/export/perfetto';
import { TCP } from '../../src/kernel/states';
import { TraceEvent, TraceFile, TraceFooter, TraceHeader, TraceLine, TraceSocket } from '../../src/trace/format';

const { CLOSE, LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK } = TCP;
const START = 5_000_000_000;
const NETNS = 4026531840;

// ---- builders ---------------------------------------------------------------

function header(): TraceHeader {
  return {
    type: 'header', format: 'tcptrace-trace', version: '1.0', host: 'web-1', kernel: '6.18.44',
    startTime: '2026-11-21T06:30:00.000Z', startNs: START, wallOffsetMs: 1_795_231_876_543, options: {},
  };
}

function ev(over: Partial<TransitionEvent> = {}): TraceEvent {
  return {
    type: 'event', kind: 'transition', tsNs: START, skaddr: 'ffff888100000001', sockId: 1, family: 4,
    saddr: '10.0.0.1', sport: 40000, daddr: '10.0.0.2', dport: 443, netns: NETNS,
    oldstate: ESTABLISHED, newstate: CLOSE_WAIT, prevStateNs: null,
    pid: 200, comm: 'curl', cgroupId: null, ownerSource: 'syscall', inferred: false,
    txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
    ...over,
  };
}

/** [oldstate, newstate, µs after START, overrides]. */
type Step = [from: number, to: number, atUs: number, over?: Partial<TransitionEvent>];

function steps(sockId: number, list: Step[], common: Partial<TransitionEvent> = {}): TraceEvent[] {
  return list.map(([from, to, atUs, over]) => ev({ sockId, oldstate: from, newstate: to, tsNs: START + atUs * 1000, ...common, ...over }));
}

function socket(over: Partial<TraceSocket>): TraceSocket {
  return {
    type: 'socket', phase: 'start', skaddr: 'ffff888100000100', sockId: 100, family: 4, saddr: '10.0.0.1', sport: 8080,
    daddr: '10.0.0.9', dport: 51000, netns: NETNS, uid: 0, inode: 1234, state: ESTABLISHED, ...over,
  };
}

function file(over: Partial<TraceFile>): TraceFile {
  return { type: 'file', phase: 'start', skaddr: 'ffff888100000100', sockId: 100, pid: 400, fd: 7, comm: 'nginx', ...over } as TraceFile;
}

function footer(atUs: number): TraceFooter {
  return {
    type: 'footer', endTime: '2026-11-21T06:30:05.000Z', endNs: START + atUs * 1000, events: 0,
    counters: { lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0 },
  };
}

interface Doc { traceEvents: TraceEventOut[]; displayTimeUnit: string; metadata: Record<string, unknown> }

function run(lines: TraceLine[]): Doc {
  let out = '';
  const exporter = new PerfettoExporter((chunk) => { out += chunk; }, header());
  for (const line of lines) exporter.add(line);
  exporter.end();
  assert.equal(exporter.openConnections, 0);
  const doc = JSON.parse(out) as Doc;
  checkFormat(doc);
  return doc;
}

// ---- Trace Event Format rules -------------------------------------------------

/** Integer ns: µs with up to three decimals compare exactly this way. */
const ns = (us: number): number => Math.round(us * 1000);

function checkFormat(doc: Doc): void {
  assert.deepEqual(Object.keys(doc), ['traceEvents', 'displayTimeUnit', 'metadata']);
  assert.ok(Array.isArray(doc.traceEvents));
  assert.equal(doc.displayTimeUnit, 'ms');
  assert.equal(typeof doc.metadata, 'object');
  for (const e of doc.traceEvents) checkEvent(e);
  checkNames(doc.traceEvents);
  checkTracks(doc.traceEvents);
}

function checkEvent(e: TraceEventOut): void {
  const text = JSON.stringify(e);
  assert.equal(typeof e.name, 'string', text);
  assert.ok(['X', 'i', 'M'].includes(e.ph), text);
  assert.ok(typeof e.ts === 'number' && Number.isFinite(e.ts) && e.ts >= 0, text);
  assert.ok(Number.isInteger(e.pid) && Number.isInteger(e.tid), text);
  if (e.ph === 'X') assert.ok(typeof e.dur === 'number' && Number.isFinite(e.dur) && e.dur >= 0, text);
  if (e.ph === 'i') assert.ok(e.s === 't' || e.s === 'p', text);
  if (e.ph === 'M') {
    assert.ok(e.name === 'process_name' || e.name === 'thread_name', text);
    assert.equal(typeof e.args?.name, 'string', text);
  }
}

/** Every pid used has a process_name, every (pid, tid) a thread_name. */
function checkNames(events: TraceEventOut[]): void {
  const meta = events.filter((e) => e.ph === 'M');
  const pids = new Set(meta.filter((e) => e.name === 'process_name').map((e) => e.pid));
  const tids = new Set(meta.filter((e) => e.name === 'thread_name').map((e) => `${e.pid}/${e.tid}`));
  for (const e of events.filter((x) => x.ph !== 'M')) {
    assert.ok(pids.has(e.pid), `no process_name for pid ${e.pid}`);
    assert.ok(tids.has(`${e.pid}/${e.tid}`), `no thread_name for ${e.pid}/${e.tid}`);
  }
}

/**
 * The ordering the exporter guarantees, per track: ts never decreases in
 * emission order, and X slices nest properly (a slice starting inside another
 * ends inside it; at equal ts the enclosing one comes first).
 */
function checkTracks(events: TraceEventOut[]): void {
  for (const [key, list] of byTrack(events)) {
    const stack: number[] = []; // ends of the enclosing slices, in ns
    let lastTs = -1;
    for (const e of list) {
      const ts = ns(e.ts);
      assert.ok(ts >= lastTs, `${key}: ts goes back at ${JSON.stringify(e)}`);
      lastTs = ts;
      if (e.ph !== 'X') continue;
      const end = ts + ns(e.dur!);
      while (stack.length > 0 && stack[stack.length - 1] <= ts) stack.pop();
      if (stack.length > 0) assert.ok(end <= stack[stack.length - 1], `${key}: ${JSON.stringify(e)} overlaps its parent`);
      stack.push(end);
    }
  }
}

function byTrack(events: TraceEventOut[]): Map<string, TraceEventOut[]> {
  const tracks = new Map<string, TraceEventOut[]>();
  for (const e of events.filter((x) => x.ph !== 'M')) {
    const key = `${e.pid}/${e.tid}`;
    tracks.set(key, [...(tracks.get(key) ?? []), e]);
  }
  return tracks;
}

// ---- queries --------------------------------------------------------------------

/** A slice as compared: name, ts and dur in µs, args if any. */
function slices(doc: Doc, tid: number, cat: string): Array<[string, number, number]> {
  return doc.traceEvents.filter((e) => e.ph === 'X' && e.tid === tid && e.cat === cat).map((e) => [e.name, e.ts, e.dur!]);
}

function only<T>(list: T[], what: string): T {
  assert.equal(list.length, 1, `${what}: ${JSON.stringify(list)}`);
  return list[0];
}

function outer(doc: Doc, tid: number): TraceEventOut {
  return only(doc.traceEvents.filter((e) => e.ph === 'X' && e.tid === tid && e.cat === 'connection'), `connection slice of ${tid}`);
}

function metaName(doc: Doc, kind: 'process_name' | 'thread_name', pid: number, tid?: number): string[] {
  return doc.traceEvents
    .filter((e) => e.ph === 'M' && e.name === kind && e.pid === pid && (tid === undefined || e.tid === tid))
    .map((e) => e.args!.name as string);
}

// ---- tests --------------------------------------------------------------------

test('client active close: one connection slice and four state slices with exact µs', () => {
  const doc = run([
    header(),
    ...steps(7, [
      [CLOSE, SYN_SENT, 1, { sport: 0 }], // the port is picked after this
      [SYN_SENT, ESTABLISHED, 51],
      [ESTABLISHED, FIN_WAIT1, 1_051],
      [FIN_WAIT1, FIN_WAIT2, 1_051.5],
      [FIN_WAIT2, CLOSE, 1_151.5, { txBytes: 102, rxBytes: 300, peerFinReceived: true }],
    ]),
    footer(10_000),
  ]);
  const conn = outer(doc, 7);
  assert.equal(conn.pid, 200);
  assert.equal(conn.name, '10.0.0.1:40000 -> 10.0.0.2:443');
  assert.deepEqual([conn.ts, conn.dur], [1, 1_150.5]);
  assert.deepEqual(slices(doc, 7, 'state'), [
    ['SYN_SENT', 1, 50],
    ['ESTABLISHED', 51, 1_000],
    ['FIN_WAIT1', 1_051, 0.5],
    ['FIN_WAIT2', 1_051.5, 100],
  ]);
  assert.deepEqual(metaName(doc, 'process_name', 200), ['curl (200)']);
  assert.deepEqual(metaName(doc, 'thread_name', 200, 7), ['10.0.0.1:40000 -> 10.0.0.2:443']);
  assert.deepEqual(conn.args, {
    sockId: 7, family: 4, netns: NETNS, local: '10.0.0.1:40000', remote: '10.0.0.2:443',
    owner: 'curl (200)', ownerSource: 'syscall', preexisting: false, txBytes: 100, rxBytes: 299, // payload, as life prints: no SYN or FIN
    ended: 'closed', closedFrom: 'FIN_WAIT2', error: 0, peerFinReceived: true,
  });
  assert.equal(doc.metadata.connections, 1);
  assert.equal(doc.metadata.endNs, START + 10_000_000);
});

test('server child, passive close: states from SYN_RECV, the accept as an instant; the listener has no track', () => {
  const server = { saddr: '10.0.0.2', sport: 8080, daddr: '10.0.0.7', dport: 51000 };
  const doc = run([
    header(),
    ...steps(10, [[CLOSE, LISTEN, 0]], { ...server, daddr: '0.0.0.0', dport: 0, pid: 300, comm: 'server' }),
    ...steps(11, [
      [LISTEN, SYN_RECV, 100, { pid: 300, comm: 'server', ownerSource: 'listener' }],
      [SYN_RECV, ESTABLISHED, 110, { pid: null, comm: null, ownerSource: null }],
    ], server),
    ev({ ...server, kind: 'accept', sockId: 11, tsNs: START + 360_000, oldstate: ESTABLISHED, newstate: ESTABLISHED, prevStateNs: 250_000, pid: 300, comm: 'server' }),
    ...steps(11, [
      [ESTABLISHED, CLOSE_WAIT, 2_000, { pid: null, comm: null, ownerSource: null }],
      [CLOSE_WAIT, LAST_ACK, 2_500],
      [LAST_ACK, CLOSE, 2_540, { peerFinReceived: true, error: 0 }],
    ], { ...server, pid: 300, comm: 'server' }),
    ...steps(10, [[LISTEN, CLOSE, 3_000]], { ...server, daddr: '0.0.0.0', dport: 0, pid: 300, comm: 'server' }),
  ]);
  assert.equal(doc.traceEvents.filter((e) => e.tid === 10).length, 0, 'the listener is not a connection');
  const conn = outer(doc, 11);
  assert.equal(conn.pid, 300);
  assert.equal(conn.name, '10.0.0.2:8080 -> 10.0.0.7:51000');
  assert.deepEqual([conn.ts, conn.dur], [100, 2_440]);
  assert.equal(conn.args!.ownerSource, 'listener');
  assert.equal(conn.args!.closedFrom, 'LAST_ACK');
  assert.equal(conn.args!.ownerChanges, undefined, 'the acceptor is the same process');
  assert.deepEqual(slices(doc, 11, 'state'), [
    ['SYN_RECV', 100, 10],
    ['ESTABLISHED', 110, 1_890],
    ['CLOSE_WAIT', 2_000, 500],
    ['LAST_ACK', 2_500, 40],
  ]);
  const accept = only(doc.traceEvents.filter((e) => e.ph === 'i'), 'instants');
  assert.deepEqual(accept, {
    name: 'accept', cat: 'event', ph: 'i', s: 't', ts: 360, pid: 300, tid: 11,
    args: { pid: 300, comm: 'server', ownerSource: 'syscall', acceptQueueUs: 250 },
  });
});

test('a connection open before tracing began starts at the trace start, owned by its snapshot fd', () => {
  const doc = run([
    header(),
    { type: 'snapshot', phase: 'start', tsNs: START + 50_000 },
    socket({ sockId: 20, state: LISTEN, daddr: '0.0.0.0', dport: 0 }),
    socket({ sockId: 21, state: ESTABLISHED }),
    socket({ sockId: 0, state: TCP.TIME_WAIT, dport: 50999 }),
    file({ sockId: 20 }),
    file({ sockId: 21, pid: 400, comm: 'nginx' }),
    file({ sockId: 21, pid: 401, comm: 'nginx', fd: 9 }), // a forked worker shares it: not an owner change
    ...steps(21, [
      [ESTABLISHED, CLOSE_WAIT, 2_000],
      [CLOSE_WAIT, LAST_ACK, 2_100],
      [LAST_ACK, CLOSE, 2_120],
    ], { saddr: '10.0.0.1', sport: 8080, daddr: '10.0.0.9', dport: 51000, pid: null, comm: null, ownerSource: null }),
    // First seen mid-life by an event, in no snapshot: it too existed at the start.
    ...steps(22, [[ESTABLISHED, FIN_WAIT1, 3_000, { pid: null, comm: null, ownerSource: null }]]),
    footer(4_000),
  ]);
  const conn = outer(doc, 21);
  assert.deepEqual([conn.pid, conn.ts, conn.dur], [400, 0, 2_120]);
  assert.deepEqual([conn.args!.owner, conn.args!.ownerSource, conn.args!.preexisting], ['nginx (400)', 'snapshot', true]);
  assert.deepEqual(slices(doc, 21, 'state'), [['ESTABLISHED', 0, 2_000], ['CLOSE_WAIT', 2_000, 100], ['LAST_ACK', 2_100, 20]]);
  assert.deepEqual(metaName(doc, 'process_name', 400), ['nginx (400)']);
  assert.deepEqual(slices(doc, 0, 'connection'), [], 'sockId 0 is not followed');
  assert.equal(doc.traceEvents.filter((e) => e.tid === 20).length, 0, 'listeners are not connections');

  const mid = outer(doc, 22);
  assert.deepEqual([mid.pid, mid.ts, mid.dur, mid.args!.preexisting], [UNKNOWN_OWNER_PID, 0, 4_000, true]);
  assert.deepEqual(slices(doc, 22, 'state'), [['ESTABLISHED', 0, 3_000], ['FIN_WAIT1', 3_000, 1_000]]);
});

test('a snapshot socket whose birth event comes after it starts at its birth', () => {
  const doc = run([
    header(),
    socket({ sockId: 23, state: SYN_SENT }),
    ...steps(23, [[CLOSE, SYN_SENT, 30], [SYN_SENT, ESTABLISHED, 80], [ESTABLISHED, CLOSE, 90, { error: 104 }]]),
  ]);
  const conn = outer(doc, 23);
  assert.deepEqual([conn.ts, conn.dur, conn.args!.preexisting, conn.args!.error], [30, 60, false, 104]);
  assert.deepEqual(slices(doc, 23, 'state'), [['SYN_SENT', 30, 50], ['ESTABLISHED', 80, 10]]);
});

test('still open at the end: closed at the footer, or at the last time seen without one', () => {
  const open: TraceLine[] = [header(), ...steps(30, [[CLOSE, SYN_SENT, 10], [SYN_SENT, ESTABLISHED, 20]])];
  const withFooter = run([...open, footer(5_000)]);
  const conn = outer(withFooter, 30);
  assert.deepEqual([conn.ts, conn.dur, conn.args!.ended], [10, 4_990, 'open at trace end']);
  assert.equal(conn.args!.closedFrom, undefined);
  assert.deepEqual(slices(withFooter, 30, 'state'), [['SYN_SENT', 10, 10], ['ESTABLISHED', 20, 4_980]]);
  assert.equal(withFooter.metadata.footerMissing, false);

  // Cut off: no footer; another socket's event is the last time seen.
  const cut = run([...open, ...steps(31, [[CLOSE, SYN_SENT, 700]])]);
  assert.deepEqual(slices(cut, 30, 'connection').map(([, ts, dur]) => [ts, dur]), [[10, 690]]);
  assert.deepEqual(slices(cut, 30, 'state'), [['SYN_SENT', 10, 10], ['ESTABLISHED', 20, 680]]);
  assert.deepEqual(slices(cut, 31, 'state'), [['SYN_SENT', 700, 0]]);
  assert.equal(cut.metadata.footerMissing, true);
});

test('an inferred transition marks the state it entered', () => {
  const doc = run([
    header(),
    ...steps(40, [
      [CLOSE, SYN_SENT, 10],
      [SYN_SENT, ESTABLISHED, 20],
      [ESTABLISHED, CLOSE_WAIT, 900, { inferred: true }],
      [CLOSE_WAIT, LAST_ACK, 950],
      [LAST_ACK, CLOSE, 960],
    ]),
  ]);
  const states = doc.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'state');
  assert.deepEqual(states.map((e) => [e.name, e.args ?? null]), [
    ['SYN_SENT', null], ['ESTABLISHED', null], ['CLOSE_WAIT', { inferred: true }], ['LAST_ACK', null],
  ]);
});

test('two overlapping connections of one process: one process track, two thread tracks', () => {
  const doc = run([
    header(),
    ...steps(50, [[CLOSE, SYN_SENT, 10], [SYN_SENT, ESTABLISHED, 20]], { pid: 500, comm: 'pool', sport: 41000 }),
    ...steps(51, [[CLOSE, SYN_SENT, 15], [SYN_SENT, ESTABLISHED, 25]], { pid: 500, comm: 'pool', sport: 41001 }),
    ...steps(50, [[ESTABLISHED, FIN_WAIT1, 100], [FIN_WAIT1, FIN_WAIT2, 101], [FIN_WAIT2, CLOSE, 110]], { pid: 500, comm: 'pool', sport: 41000 }),
    ...steps(51, [[ESTABLISHED, CLOSE, 200]], { pid: 500, comm: 'pool', sport: 41001 }),
  ]);
  const a = outer(doc, 50), b = outer(doc, 51);
  assert.deepEqual([a.pid, a.ts, a.dur], [500, 10, 100]);
  assert.deepEqual([b.pid, b.ts, b.dur], [500, 15, 185]);
  assert.ok(b.ts < a.ts + a.dur!, 'they overlap in time');
  assert.deepEqual(metaName(doc, 'process_name', 500), ['pool (500)'], 'named once');
  assert.deepEqual(metaName(doc, 'thread_name', 500, 50), ['10.0.0.1:41000 -> 10.0.0.2:443']);
  assert.deepEqual(metaName(doc, 'thread_name', 500, 51), ['10.0.0.1:41001 -> 10.0.0.2:443']);
  assert.deepEqual(slices(doc, 51, 'state'), [['SYN_SENT', 15, 10], ['ESTABLISHED', 25, 175]]);
});

test('a connection no process ever named goes under pid 0, "unknown owner"', () => {
  const doc = run([
    header(),
    ...steps(60, [[ESTABLISHED, CLOSE, 40, { error: 104 }]], { pid: null, comm: null, ownerSource: null }),
  ]);
  const conn = outer(doc, 60);
  assert.deepEqual([conn.pid, conn.args!.owner, conn.args!.ownerSource], [UNKNOWN_OWNER_PID, null, null]);
  assert.deepEqual(metaName(doc, 'process_name', UNKNOWN_OWNER_PID), ['unknown owner']);
  assert.deepEqual(slices(doc, 60, 'state'), [['ESTABLISHED', 0, 40]]);
});

test('an owner change keeps the first owner\'s track and records the new owner', () => {
  const doc = run([
    header(),
    ...steps(70, [[CLOSE, SYN_SENT, 10], [SYN_SENT, ESTABLISHED, 20]], { pid: 600, comm: 'parent' }),
    ...steps(70, [[ESTABLISHED, FIN_WAIT1, 300], [FIN_WAIT1, FIN_WAIT2, 310], [FIN_WAIT2, CLOSE, 320]], { pid: 601, comm: 'child', ownerSource: 'cached' }),
  ]);
  const conn = outer(doc, 70);
  assert.equal(conn.pid, 600);
  assert.equal(conn.args!.owner, 'parent (600)');
  assert.deepEqual(conn.args!.ownerChanges, [{ owner: 'child (601)', ownerSource: 'cached', atUs: 300 }]);
  assert.equal(doc.traceEvents.filter((e) => e.pid === 601).length, 0);
});

test('lost records are instants on the tracer\'s own track, at the latest time seen', () => {
  const doc = run([
    header(),
    ...steps(80, [[CLOSE, SYN_SENT, 10]]),
    { type: 'lost', count: 3, total: 3 },
    ...steps(80, [[SYN_SENT, CLOSE, 50]]),
    { type: 'lost', count: 2, total: 5 },
  ]);
  const lost = doc.traceEvents.filter((e) => e.ph === 'i');
  assert.deepEqual(lost.map((e) => [e.pid, e.tid, e.s, e.ts, e.args]), [
    [UNKNOWN_OWNER_PID, LOST_TID, 't', 10, { count: 3, total: 3 }],
    [UNKNOWN_OWNER_PID, LOST_TID, 't', 50, { count: 2, total: 5 }],
  ]);
  assert.equal(metaName(doc, 'thread_name', UNKNOWN_OWNER_PID, LOST_TID).length, 1);
  assert.equal(doc.metadata.lostEvents, 5);
});

test('a closed connection is written before end(); nothing may be added after it', () => {
  const chunks: string[] = [];
  const exporter = new PerfettoExporter((c) => chunks.push(c), header());
  for (const e of steps(90, [[CLOSE, SYN_SENT, 10], [SYN_SENT, ESTABLISHED, 20]])) exporter.add(e);
  assert.equal(exporter.openConnections, 1);
  assert.ok(!chunks.join('').includes('"tid":90'), 'an open connection is held');
  exporter.add(steps(90, [[ESTABLISHED, CLOSE, 30]])[0]);
  assert.equal(exporter.openConnections, 0);
  assert.match(chunks.join(''), /"cat":"connection","ph":"X","ts":10,"dur":20,"pid":200,"tid":90/);
  exporter.end();
  assert.throws(() => exporter.add(footer(40)), /after end/);
  assert.equal(JSON.parse(chunks.join('')).traceEvents.length, 5);
});

test('a trace with events out of order still gives non-negative durations and proper nesting', () => {
  const doc = run([
    header(),
    ...steps(95, [[CLOSE, SYN_SENT, 100], [SYN_SENT, ESTABLISHED, 90], [ESTABLISHED, CLOSE, 120]]),
    ev({ sockId: 96, oldstate: CLOSE, newstate: SYN_SENT, tsNs: START - 5_000 }), // before the start
  ]);
  assert.deepEqual(slices(doc, 95, 'state'), [['SYN_SENT', 100, 0], ['ESTABLISHED', 100, 20]]);
  assert.deepEqual(slices(doc, 96, 'connection').map(([, ts]) => ts), [0]);
});

/** gc() without --expose-gc on the command line. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

test('200,000 connections stream through in bounded memory', () => {
  const gc = collector();
  const COUNT = 200_000, CONCURRENT = 50;
  let written = 0, outerSlices = 0, peakOpen = 0;
  const count = (chunk: string): void => {
    written += chunk.length;
    if (chunk.includes('"cat":"connection"')) outerSlices++;
  };
  gc();
  const before = process.memoryUsage().heapUsed;
  const exporter = new PerfettoExporter(count, header());
  // Connection i opens at step i and closes at step i + CONCURRENT: that many are open at
  // once, and the last CONCURRENT are still open when end() comes.
  for (let step = 0; step < COUNT; step++) {
    openAt(exporter, step);
    if (step >= CONCURRENT) closeAt(exporter, step - CONCURRENT, step);
    peakOpen = Math.max(peakOpen, exporter.openConnections);
  }
  assert.equal(exporter.openConnections, CONCURRENT);
  exporter.end();
  gc();
  const growth = process.memoryUsage().heapUsed - before;
  assert.equal(exporter.openConnections, 0);
  assert.equal(peakOpen, CONCURRENT);
  assert.equal(outerSlices, COUNT);
  assert.ok(written > COUNT * 500, `${written} characters written`);
  assert.ok(growth < 30 * 1024 * 1024, `heap grew by ${(growth / 1024 / 1024).toFixed(1)} MB`);
});

function loadEvent(i: number, oldstate: number, newstate: number, tsNs: number): TraceEvent {
  return ev({ sockId: i + 1, pid: 1000 + (i % 64), comm: 'load', sport: 10000 + (i % 50000), oldstate, newstate, tsNs });
}

function openAt(exporter: PerfettoExporter, i: number): void {
  exporter.add(loadEvent(i, CLOSE, SYN_SENT, START + i * 1000));
  exporter.add(loadEvent(i, SYN_SENT, ESTABLISHED, START + i * 1000 + 10));
}

/** An active close of connection i at step `step`. */
function closeAt(exporter: PerfettoExporter, i: number, step: number): void {
  const at = START + step * 1000 + 20;
  exporter.add(loadEvent(i, ESTABLISHED, FIN_WAIT1, at));
  exporter.add(loadEvent(i, FIN_WAIT1, FIN_WAIT2, at + 10));
  exporter.add(loadEvent(i, FIN_WAIT2, CLOSE, at + 20));
}
