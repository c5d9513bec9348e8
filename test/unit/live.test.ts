import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelTallies, STATE_COUNT_SLOTS, TransitionEvent } from '../../src/kernel/decoder';
import { formatMicros } from '../../src/units';
import { LiveViewInput, renderLiveView } from '../../src/format/live-view';
import { LatencySet } from '../../src/model/latency';
import { LiveStats } from '../../src/model/live-stats';
import { NamespaceCounts } from '../../src/model/state-counts';
import { TracerCounters } from '../../src/kernel/native';
import { TCP } from '../../src/kernel/states';
import { Connection } from '../../src/model/tracker';
import { ANSI, PLAIN } from '../../src/format/colour';
import { eventLine } from '../../src/format/event-text';
import { paintFor } from '../../src/cli/output';
import { countedNamespaces } from '../../src/cli/commands/live';
import { Clock } from '../../src/kernel/clock';

const MAX_TOTAL_KEYS = 10_000; // src/live-stats.ts

function ev(over: Partial<TransitionEvent> = {}): TransitionEvent {
  return {
    tsNs: 1, skaddr: 'ffff888100000001', sockId: 1, family: 4,
    saddr: '10.0.0.1', sport: 40000, daddr: '10.0.0.2', dport: 5555, netns: 4026531840,
    oldstate: TCP.ESTABLISHED, newstate: TCP.CLOSE_WAIT, prevStateNs: null,
    pid: 100, comm: 'nginx', cgroupId: null, ownerSource: 'cached', inferred: false,
    kind: 'transition', txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
    ...over,
  };
}

function repeat(n: number, e: TransitionEvent): TransitionEvent[] {
  return Array.from({ length: n }, () => e);
}

/** One interval: nginx closing 3 peers' sockets, curl connecting, two listeners with no owner. */
function firstInterval(): TransitionEvent[] {
  return [
    ...repeat(3, ev()),
    ev({ pid: 200, comm: 'curl', daddr: '10.0.0.3', dport: 443, oldstate: TCP.SYN_SENT, newstate: TCP.ESTABLISHED }),
    ...repeat(2, ev({ pid: null, comm: null, ownerSource: null, daddr: '0.0.0.0', dport: 0, oldstate: TCP.CLOSE, newstate: TCP.LISTEN })),
  ];
}

function statsAfterFirstInterval(): LiveStats {
  const stats = new LiveStats();
  stats.add(firstInterval());
  stats.tick();
  return stats;
}

// ---- LiveStats ----------------------------------------------------------

/** What the kernel would hold after these events: running totals per (old, new), owner and peer. */
function kernelCounts(events: TransitionEvent[]): { transitions: number[][]; tallies: KernelTallies } {
  const transitions = Array.from({ length: STATE_COUNT_SLOTS }, () => new Array<number>(STATE_COUNT_SLOTS).fill(0));
  const processes = new Map<number, KernelTallies['processes'][number]>();
  const peers = new Map<string, number>();
  for (const e of events) {
    transitions[e.oldstate][e.newstate]++;
    if (e.pid !== null) {
      const p = processes.get(e.pid) ?? { pid: e.pid, comm: e.comm ?? '', cgroupId: e.cgroupId, transitions: 0 };
      p.transitions++;
      processes.set(e.pid, p);
    }
    if (e.dport) peers.set(e.daddr, (peers.get(e.daddr) ?? 0) + 1);
  }
  return { transitions, tallies: { processes: [...processes.values()], peers: [...peers].map(([daddr, transitions]) => ({ daddr, transitions })) } };
}

function ranked(stats: LiveStats): unknown {
  return ['transitions', 'processes', 'peers'].map((t) => (stats as any)[t].top(100, 1));
}

test('the kernel\'s running totals give the view the same counts as the events, interval by interval', () => {
  const second = [ev(), ev({ pid: 300, comm: 'java', daddr: '10.0.0.9' })];
  const fromEvents = new LiveStats(), fromKernel = new LiveStats();
  fromEvents.add(firstInterval());
  fromKernel.addKernel(kernelCounts(firstInterval()).transitions, kernelCounts(firstInterval()).tallies);
  fromEvents.tick();
  fromKernel.tick();
  assert.deepEqual(ranked(fromKernel), ranked(fromEvents));
  const both = kernelCounts([...firstInterval(), ...second]);
  fromEvents.add(second);
  fromKernel.addKernel(both.transitions, both.tallies);
  fromEvents.tick();
  fromKernel.tick();
  assert.deepEqual(ranked(fromKernel), ranked(fromEvents));
  assert.deepEqual([fromKernel.total, fromKernel.lastIntervalTotal], [fromEvents.total, fromEvents.lastIntervalTotal]);
  assert.deepEqual([fromKernel.total, fromKernel.lastIntervalTotal], [8, 2]);
});

test('a kernel tally that starts again (evicted, then counted anew) counts all of its new total', () => {
  const stats = new LiveStats();
  const tallies = (n: number): KernelTallies => ({ processes: [{ pid: 7, comm: 'app', cgroupId: null, transitions: n }], peers: [] });
  const none = Array.from({ length: STATE_COUNT_SLOTS }, () => new Array<number>(STATE_COUNT_SLOTS).fill(0));
  stats.addKernel(none, tallies(50));
  stats.tick();
  stats.addKernel(none, { processes: [], peers: [] }); // evicted
  stats.tick();
  stats.addKernel(none, tallies(3)); // counted again from 1
  stats.tick();
  assert.deepEqual(stats.processes.top(1, 1).map((r) => [r.label, r.perSecond, r.total]), [['7 app', 3, 53]]);
});

test('totals and interval totals', () => {
  const stats = new LiveStats();
  stats.add(firstInterval());
  assert.equal(stats.total, 6);
  assert.equal(stats.intervalTotal, 6);
  assert.equal(stats.lastIntervalTotal, 0);
  stats.tick();
  assert.equal(stats.intervalTotal, 0);
  assert.equal(stats.lastIntervalTotal, 6);
  stats.add([ev()]);
  stats.tick();
  assert.equal(stats.total, 7);
  assert.equal(stats.lastIntervalTotal, 1);
});

test('transitions are ranked by count in the last interval', () => {
  assert.deepEqual(statsAfterFirstInterval().transitions.top(10, 1), [
    { key: 'ESTABLISHED -> CLOSE_WAIT', label: 'ESTABLISHED -> CLOSE_WAIT', detail: null, perSecond: 3, total: 3 },
    { key: 'CLOSE -> LISTEN', label: 'CLOSE -> LISTEN', detail: null, perSecond: 2, total: 2 },
    { key: 'SYN_SENT -> ESTABLISHED', label: 'SYN_SENT -> ESTABLISHED', detail: null, perSecond: 1, total: 1 },
  ]);
});

test('events without a pid are not counted as a process', () => {
  assert.deepEqual(statsAfterFirstInterval().processes.top(10, 1), [
    { key: '100', label: '100 nginx', detail: null, perSecond: 3, total: 3 },
    { key: '200', label: '200 curl', detail: null, perSecond: 1, total: 1 },
  ]);
});

test('dport 0 (a listener) is not a peer', () => {
  assert.deepEqual(statsAfterFirstInterval().peers.top(10, 1), [
    { key: '10.0.0.2', label: '10.0.0.2', detail: null, perSecond: 3, total: 3 },
    { key: '10.0.0.3', label: '10.0.0.3', detail: null, perSecond: 1, total: 1 },
  ]);
});

test('per second divides by the interval; top(n) keeps the first n', () => {
  const stats = statsAfterFirstInterval();
  assert.deepEqual(stats.peers.top(1, 2), [{ key: '10.0.0.2', label: '10.0.0.2', detail: null, perSecond: 1.5, total: 3 }]);
  assert.deepEqual(stats.peers.top(0, 1), []);
});

test('a quiet key keeps its total and ranks after active ones', () => {
  const stats = statsAfterFirstInterval();
  stats.add([ev({ pid: 200, comm: 'curl', daddr: '10.0.0.3' })]);
  stats.tick();
  assert.deepEqual(stats.processes.top(10, 1), [
    { key: '200', label: '200 curl', detail: null, perSecond: 1, total: 2 },
    { key: '100', label: '100 nginx', detail: null, perSecond: 0, total: 3 },
  ]);
  stats.tick();
  assert.deepEqual(stats.processes.top(10, 1).map((r) => [r.key, r.perSecond, r.total]), [['100', 0, 3], ['200', 0, 2]]);
});

test('a process keeps the label it was first seen with; a pid with no comm is just the pid', () => {
  const stats = new LiveStats();
  stats.add([ev({ pid: 5, comm: 'bash' }), ev({ pid: 5, comm: 'curl' }), ev({ pid: 6, comm: null })]);
  stats.tick();
  assert.deepEqual(stats.processes.top(10, 1).map((r) => r.label), ['5 bash', '6']);
});

test('totals stay bounded under 20,000 distinct peers, and the busiest peer survives', () => {
  const stats = new LiveStats();
  const sizes: number[] = [];
  for (let tick = 0; tick < 20; tick++) {
    const events = repeat(5, ev({ daddr: '192.0.2.1' }));
    for (let i = 0; i < 1000; i++) events.push(ev({ daddr: `10.${tick}.${i >> 8}.${i & 255}` }));
    stats.add(events);
    stats.tick();
    sizes.push(stats.peers.top(100_000, 1).length);
  }
  assert.ok(Math.max(...sizes) <= MAX_TOTAL_KEYS, `sizes ${sizes.join(',')}`);
  assert.ok(sizes.some((n, i) => i > 0 && n < sizes[i - 1]), `never pruned: ${sizes.join(',')}`);
  assert.ok(sizes[sizes.length - 1] < 20_001);
  assert.deepEqual(stats.peers.top(1, 1), [{ key: '192.0.2.1', label: '192.0.2.1', detail: null, perSecond: 5, total: 100 }]);
  assert.equal(stats.total, 20 * 1005);
});

test('a key active in the last interval keeps its label and total through a prune', () => {
  const stats = new LiveStats();
  const events: TransitionEvent[] = [];
  for (let pid = 1; pid <= MAX_TOTAL_KEYS + 1; pid++) events.push(ev({ pid, comm: 'p' }));
  stats.add(events);
  stats.tick();
  const last = stats.processes.top(100_000, 1).find((r) => r.key === String(MAX_TOTAL_KEYS + 1));
  assert.deepEqual(last, { key: '10001', label: '10001 p', detail: null, perSecond: 1, total: 1 });
});

// ---- the live view ---------------------------------------------------------

const OWN_NETNS = 4026531840;

/** tcptrace's own namespace alone, with these counts (as LiveSource.stateCounts gives them). */
function ownOnly(counts: number[]): NamespaceCounts[] {
  return [namespace(OWN_NETNS, counts, { own: true })];
}

function namespace(netns: number, counts: number[], over: { own?: boolean; name?: string; pod?: string; container?: string } = {}): NamespaceCounts {
  return {
    netns, counts, listeners: [], own: over.own ?? false,
    holder: { inode: netns, name: over.name ?? null, pod: over.pod ?? null, podUid: null, container: over.container ?? null },
  };
}

function stateCounts(byState: Record<number, number>): number[] {
  const counts = new Array(16).fill(0);
  for (const [state, n] of Object.entries(byState)) counts[Number(state)] = n;
  return counts;
}

function counters(lostEvents: number, untrackedSockets: number): TracerCounters {
  return { lostEvents, lostRingBufferFull: lostEvents, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets };
}

function view(over: Partial<LiveViewInput> = {}): string[] {
  return renderLiveView({
    now: '12:00:00.000',
    elapsedSeconds: 5.7,
    intervalSeconds: 1,
    namespaces: ownOnly(stateCounts({ [TCP.ESTABLISHED]: 42, [TCP.TIME_WAIT]: 1234, [TCP.CLOSE_WAIT]: 3, [TCP.NEW_SYN_RECV]: 2, [TCP.CLOSE]: 99 })), countedWhere: 'every one on the host',
    stats: statsAfterFirstInterval(),
    counters: counters(7, 0),
    filters: 'port 443',
    dropping: [],
    topN: 8,
    latencies: new LatencySet('us'),
    ...over,
  }).split('\n');
}

/** The value printed under `header` in the state table (values are right-aligned to the header's end). */
function countUnder(lines: string[], header: string): string {
  const title = lines.findIndex((l) => l.startsWith('Sockets by state'));
  assert.ok(title > 0, 'no state table');
  const [headers, values] = [lines[title + 1], lines[title + 2]];
  const match = new RegExp(`(?<=\\s)${header.replace(/[()]/g, '\\$&')}(?=\\s|$)`).exec(headers);
  assert.ok(match, `no ${header} column in "${headers}"`);
  return values.slice(0, match.index + header.length).trim().split(/\s+/).pop()!;
}

test('the status line: uptime, transitions and rate, lost events, filters', () => {
  assert.equal(view()[0], 'tcptrace live  12:00:00.000  up 5s  transitions 6 (6/s)  LOST 7  filters: port 443');
  assert.equal(view({ counters: counters(0, 12345), filters: '', intervalSeconds: 2 })[0],
    'tcptrace live  12:00:00.000  up 5s  transitions 6 (3/s)  lost 0  untracked sockets 12,345');
});

test('the status line shows connections the view stopped following, when there are any', () => {
  assert.equal(view({ counters: counters(0, 3), filters: '', connectionsDropped: 1234 })[0],
    'tcptrace live  12:00:00.000  up 5s  transitions 6 (6/s)  lost 0  untracked sockets 3  connections dropped 1,234');
  assert.ok(!view({ connectionsDropped: 0 })[0].includes('dropped'));
});

test('the state table shows each state count under its name', () => {
  const lines = view();
  assert.equal(countUnder(lines, 'TIME_WAIT'), '1,234');
  assert.equal(countUnder(lines, 'ESTABLISHED'), '42');
  assert.equal(countUnder(lines, 'CLOSE_WAIT'), '3');
  assert.equal(countUnder(lines, 'SYN_RECV(req)'), '2');
  assert.equal(countUnder(lines, 'SYN_RECV'), '0');
  assert.equal(countUnder(lines, 'LISTEN'), '0');
  const headers = lines[lines.findIndex((l) => l.startsWith('Sockets by state')) + 1].trim().split(/\s+/);
  assert.deepEqual(headers, [
    'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
    'CLOSE_WAIT', 'LAST_ACK', 'CLOSING', 'LISTEN', 'SYN_RECV(req)',
  ]); // CLOSE (99 here) is not shown
  const values = lines[lines.findIndex((l) => l.startsWith('Sockets by state')) + 2].trim().split(/\s+/);
  assert.deepEqual(values, ['42', '0', '0', '0', '0', '1,234', '3', '0', '0', '0', '2']);
});

test('the ranked tables', () => {
  const lines = view();
  const at = lines.indexOf('  PROCESS    PER SEC  TOTAL');
  assert.ok(at > 0, lines.join('\n'));
  assert.deepEqual(lines.slice(at, at + 3), [
    '  PROCESS    PER SEC  TOTAL',
    '  100 nginx        3      3',
    '  200 curl         1      1',
  ]);
  const peers = lines.findIndex((l) => l.startsWith('  PEER'));
  assert.deepEqual(lines.slice(peers + 1, peers + 3).map((l) => l.trim().split(/\s+/)), [['10.0.0.2', '3', '3'], ['10.0.0.3', '1', '1']]);
  assert.equal(lines[lines.length - 1], 'Ctrl-C to stop');
});

test('empty tables say so; topN limits rows', () => {
  const empty = view({ stats: new LiveStats() });
  assert.equal(empty[0], 'tcptrace live  12:00:00.000  up 5s  transitions 0 (0/s)  LOST 7  filters: port 443');
  for (const title of ['TRANSITION', 'PROCESS', 'PEER']) {
    const at = empty.indexOf(`  ${title}`);
    assert.ok(at > 0, title);
    assert.equal(empty[at + 1], '  (none yet)');
  }
  const one = view({ topN: 1 });
  const at = one.findIndex((l) => l.startsWith('  PROCESS'));
  assert.equal(one[at + 1], '  100 nginx        3      3');
  assert.equal(one[at + 2], '');
});

test('the view shows each distribution with samples, percentile bounds and a log2 shape', () => {
  const latencies = new LatencySet('us');
  const conn = { pid: 1, comm: 'x', role: 'client', daddr: '10.0.0.2', dport: 80, sport: 5000 } as unknown as Connection;
  for (const us of [10, 12, 14, 40]) latencies.add('connect', us * 1000, conn);
  latencies.add('closeWait', 3_000_000_000, conn);
  const lines = view({ latencies });
  const connect = lines.find((l) => l.includes('connect (SYN_SENT -> ESTABLISHED)'))!;
  // 10, 12, 14 fall in 8..15 us, 40 in 32..63: p50 <= 15us, p90 and p99 <= 63us; shape has a gap bucket.
  assert.match(connect, /\s4\s+15us\s+63us\s+63us\s+█ ▃$/);
  const closeWait = lines.find((l) => l.includes("CLOSE_WAIT: peer's FIN -> close"))!;
  assert.match(closeWait, /\s1\s+4\.2s\s+4\.2s\s+4\.2s\s+█$/);
  assert.ok(!lines.some((l) => l.includes('accept-queue wait')), 'no row without samples');
});

test('formatMicros picks the unit from the size', () => {
  assert.deepEqual([1, 999, 1023, 999_999, 2_097_151].map(formatMicros), ['1us', '999us', '1.0ms', '1000.0ms', '2.1s']);
});

test('the process table has a CONTAINER column when some process runs in one', () => {
  const stats = new LiveStats((pid) => (pid === 200 ? '3f2a9c1b7d2e' : null));
  stats.add(firstInterval());
  stats.tick();
  const lines = view({ stats });
  const at = lines.findIndex((l) => l.startsWith('  PROCESS'));
  assert.deepEqual(lines.slice(at, at + 3), [
    '  PROCESS    CONTAINER     PER SEC  TOTAL',
    '  100 nginx  -                   3      3',
    '  200 curl   3f2a9c1b7d2e        1      1',
  ]);
  // The container is asked for once per process, when it is first seen.
  let asked = 0;
  const counting = new LiveStats(() => { asked++; return null; });
  counting.add([...firstInterval(), ...firstInterval()]);
  assert.equal(asked, 2);
});

test('the state table says which namespaces it counts; a table per namespace once any other has sockets', () => {
  assert.ok(view().includes('Sockets by state (now, 1 network namespace: every one on the host; TIME_WAIT has no owner)'));
  assert.ok(!view().some((l) => l.startsWith('  NETNS')), 'one namespace: no table of them');
  const pod = namespace(4026532321, stateCounts({ [TCP.CLOSE_WAIT]: 40, [TCP.ESTABLISHED]: 2 }), { pod: 'web-7d9f' });
  const named = namespace(4026532400, stateCounts({ [TCP.LISTEN]: 1 }), { name: 'blue' });
  const empty = namespace(4026532500, stateCounts({}), { container: 'c'.repeat(64) });
  const own = ownOnly(stateCounts({ [TCP.ESTABLISHED]: 42, [TCP.CLOSE_WAIT]: 3 }));
  const lines = view({ namespaces: [...own, named, pod, empty], countedWhere: 'every one on the host' });
  const text = lines.join('\n');
  assert.ok(lines.includes('Sockets by state (now, 4 network namespaces: every one on the host; TIME_WAIT has no owner)'), text);
  // The totals: 42 + 2 established, 3 + 40 in CLOSE_WAIT.
  const header = lines.findIndex((l) => /^\s+ESTABLISHED/.test(l));
  const cells = (line: string) => line.trim().split(/\s+/);
  const totals = Object.fromEntries(cells(lines[header]).map((h, i) => [h, cells(lines[header + 1])[i]]));
  assert.equal(totals.ESTABLISHED, '44');
  assert.equal(totals.CLOSE_WAIT, '43');
  assert.equal(totals.LISTEN, '1');
  // One row per namespace with sockets, the most first; the empty one left out.
  const at = lines.findIndex((l) => l.startsWith('  NETNS'));
  assert.deepEqual(cells(lines[at]), ['NETNS', 'NAME', 'ESTABLISHED', 'CLOSE_WAIT', 'LISTEN', 'SOCKETS']);
  assert.deepEqual(lines.slice(at + 1, at + 4).map(cells), [
    ['net:[4026531840]', "(tcptrace's", "own)", '42', '3', '0', '45'],
    ['net:[4026532321]', 'pod', 'web-7d9f', '2', '40', '0', '42'],
    ['net:[4026532400]', 'blue', '0', '0', '1', '1'],
  ]);
  assert.equal(lines[at + 4], '', 'no row for the namespace with no sockets');
  // Many namespaces are counted less often than every second: the title says how old the others' counts are.
  const stale = view({ namespaces: [...own, pod], countedWhere: 'every one on the host', othersCountedSecondsAgo: 12.7 });
  assert.ok(stale.includes('Sockets by state (now, 2 network namespaces: every one on the host; the others as counted 12s ago; TIME_WAIT has no owner)'), stale.join('\n'));
  assert.ok(!view({ namespaces: [...own, pod], countedWhere: 'x', othersCountedSecondsAgo: 1.5 }).some((l) => l.includes('counted 1s ago')));
  // --netns: the namespaces named; one namespace other than ours gets its row.
  assert.equal(countedNamespaces({}), 'every one on the host');
  assert.equal(countedNamespaces({ cgroup: '/a' }), "those --cgroup's processes are in");
  const other = view({ namespaces: [pod], countedWhere: countedNamespaces({ netns: [4026532321] }) });
  assert.ok(other.includes('Sockets by state (now, 1 network namespace: --netns net:[4026532321]; TIME_WAIT has no owner)'));
  assert.ok(other.some((l) => l.includes('pod web-7d9f')));
});

test('listeners dropping: a table of who listens, how full, how many dropped, and the command that says why', () => {
  assert.ok(!view().some((l) => l.includes('LISTENER DROPPING') || l.includes('accept queues')), 'none dropping: nothing said');
  const lines = view({ dropping: [
    { netns: OWN_NETNS, listener: '127.0.0.1:8080', owner: { pid: 42, comm: 'app' }, acceptQueue: 129, acceptQueueLimit: 128, droppedWhileWatched: 1200, droppedLastRefresh: 30 },
    { netns: OWN_NETNS, listener: '[::]:443', owner: null, acceptQueue: 0, acceptQueueLimit: 4096, droppedWhileWatched: 3, droppedLastRefresh: 0 },
  ] });
  assert.ok(lines.includes("=> 1,203 connection(s) dropped by full accept queues: sudo tcptrace doctor says whether listen()'s backlog or somaxconn is the limit"), lines.join('\n'));
  const at = lines.findIndex((l) => l.startsWith('  LISTENER DROPPING'));
  const cells = (line: string) => line.trim().split(/\s+/);
  assert.deepEqual(cells(lines[at]), ['LISTENER', 'DROPPING', 'PROCESS', 'QUEUE', 'LAST', 'DROPPED']);
  assert.deepEqual(cells(lines[at + 1]), ['127.0.0.1:8080', '42', 'app', '129/128', '30', '1,200']);
  assert.deepEqual(cells(lines[at + 2]), ['[::]:443', '-', '0/4,096', '0', '3']);
});

// ---- the view on a terminal of a given size -----------------------------------

/** A busy host: many transitions, processes and peers, and a CLOSE_WAIT and TIME_WAIT pile-up. */
function busy(): LiveStats {
  const stats = new LiveStats();
  const events: TransitionEvent[] = [];
  for (let i = 0; i < 40; i++) {
    for (let j = 0; j <= i; j++) events.push(ev({ pid: 1000 + i, comm: `worker${i}`, daddr: `10.0.${i}.1`, oldstate: TCP.ESTABLISHED, newstate: (i % 2 ? TCP.CLOSE_WAIT : TCP.FIN_WAIT1) }));
  }
  stats.add(events);
  stats.tick();
  return stats;
}

const PILE_UP = stateCounts({ [TCP.ESTABLISHED]: 4200, [TCP.TIME_WAIT]: 28_000, [TCP.CLOSE_WAIT]: 3000, [TCP.LISTEN]: 12 });

test('at 80x24 the view fits: the title, every state, and the top rows of each table', () => {
  const lines = view({ stats: busy(), namespaces: ownOnly(PILE_UP), countedWhere: 'every one on the host', screen: { columns: 80, rows: 24 } });
  assert.ok(lines.length <= 24, `${lines.length} lines:\n${lines.join('\n')}`);
  assert.deepEqual(lines.filter((l) => l.length > 80), []);
  assert.match(lines[0], /^tcptrace live {2}12:00:00\.000 {2}up 5s/);
  const states = lines.join('\n');
  for (const name of ['ESTABLISHED', 'SYN_SENT', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYN_RECV(req)']) assert.match(states, new RegExp(`\\b${name.replace(/[()]/g, '\\$&')}(\\s|$)`), name);
  for (const title of ['TRANSITION', 'PROCESS', 'PEER']) {
    const at = lines.findIndex((l) => l.startsWith(`  ${title}`));
    assert.ok(at > 0 && /^\s+\S/.test(lines[at + 1]) && !lines[at + 1].includes('(none yet)'), `${title} and its top row:\n${lines.join('\n')}`);
  }
  assert.equal(lines.at(-1), 'Ctrl-C to stop');
});

test('a bigger terminal shows more: every table with its top N, the distributions too', () => {
  const small = view({ stats: busy(), namespaces: ownOnly(PILE_UP), countedWhere: 'every one on the host', screen: { columns: 80, rows: 24 } });
  const big = view({ stats: busy(), namespaces: ownOnly(PILE_UP), countedWhere: 'every one on the host', screen: { columns: 160, rows: 60 } });
  const rowsOf = (lines: string[], title: string) => {
    const at = lines.findIndex((l) => l.startsWith(`  ${title}`));
    const end = lines.indexOf('', at);
    return end - at - 1;
  };
  assert.equal(rowsOf(big, 'PROCESS'), 8, 'topN rows when they fit');
  assert.ok(rowsOf(small, 'PROCESS') < 8);
  assert.ok(big.some((l) => l.startsWith('  DISTRIBUTION')));
  assert.ok(big.length <= 60);
  // On one line at 160 columns, over two at 80.
  const headerWith = (lines: string[], name: string) => lines.findIndex((l) => /^\s+ESTABLISHED|^\s+[A-Z_]+\s+[A-Z_]/.test(l) && l.includes(name));
  assert.equal(headerWith(big, 'ESTABLISHED'), headerWith(big, 'SYN_RECV(req)'));
  assert.notEqual(headerWith(small, 'ESTABLISHED'), headerWith(small, 'SYN_RECV(req)'));
});

test('a high CLOSE_WAIT or TIME_WAIT count names the command to run next', () => {
  const lines = view({ namespaces: ownOnly(PILE_UP) });
  assert.ok(lines.includes('=> 3,000 in CLOSE_WAIT: sudo tcptrace culprits names who holds them, and why'), lines.join('\n'));
  assert.ok(lines.includes('=> 28,000 in TIME_WAIT: sudo tcptrace doctor says which side closes first, and if ports run out'));
  const quiet = view({ namespaces: ownOnly(stateCounts({ [TCP.CLOSE_WAIT]: 99, [TCP.TIME_WAIT]: 999 })) });
  assert.ok(!quiet.some((l) => l.startsWith('=>')), quiet.join('\n'));
  // On a terminal, in the state's colour.
  const coloured = view({ namespaces: ownOnly(PILE_UP), countedWhere: 'every one on the host', paint: ANSI });
  assert.ok(coloured.includes('\x1b[31m=> 3,000 in CLOSE_WAIT: sudo tcptrace culprits names who holds them, and why\x1b[0m'));
});

test('colour: on a terminal unless NO_COLOR, never in a pipe; severities and states', () => {
  assert.equal(paintFor({ isTTY: true }, {}), ANSI);
  assert.equal(paintFor({ isTTY: true }, { NO_COLOR: '1' }), PLAIN);
  assert.equal(paintFor({ isTTY: false }, {}), PLAIN);
  assert.equal(paintFor({}, {}), PLAIN);
  const clock = new Clock(0);
  const line = eventLine(ev({ oldstate: TCP.ESTABLISHED, newstate: TCP.CLOSE_WAIT }), clock, 21, undefined, ANSI);
  assert.ok(line.includes('\x1b[31m-> CLOSE_WAIT \x1b[0m'), JSON.stringify(line));
  const plain = eventLine(ev({ oldstate: TCP.ESTABLISHED, newstate: TCP.CLOSE_WAIT }), clock, 21);
  assert.equal(line.replace(/\x1b\[\d+m/g, ''), plain, 'the same columns, coloured');
});
