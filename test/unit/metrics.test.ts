/** The Prometheus metrics of `tcptrace serve`: values, labels, caps, and promtool's naming rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CloseWaitHolding } from '../../src/model/culprits';
import { KernelAggregates, MAX_BOUNDS, MEASURE_KINDS, MeasureKind, TransitionEvent } from '../../src/kernel/decoder';
import {
  DURATION_HISTOGRAMS, durationBoundsNs, GAUGE_STATES, HOLDER_LABELS, LossCounts, METRICS, OTHER_HOLDERS, summariseHolders, TcpMetrics,
} from '../../src/model/metrics';
import { TracerCounters } from '../../src/kernel/native';
import { TCP } from '../../src/kernel/states';
import { NamespaceCounts } from '../../src/model/state-counts';

const NO_LOSS: TracerCounters = { lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0 };

function transition(oldstate: number, newstate: number, kind: 'transition' | 'accept' = 'transition'): TransitionEvent {
  return {
    kind, tsNs: 1, skaddr: 'ffff', sockId: 1, family: 4, saddr: '127.0.0.1', sport: 1, daddr: '127.0.0.1', dport: 2,
    netns: 1, oldstate, newstate, prevStateNs: null, pid: null, comm: null, cgroupId: null, ownerSource: null, inferred: false,
    txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
  };
}

/** A CLOSE_WAIT socket held by these [pid, comm] processes. */
function heldBy(...holders: [number, string][]): CloseWaitHolding {
  return {
    socket: { sockId: 1, family: 4, saddr: '127.0.0.1', sport: 1, daddr: '127.0.0.1', dport: 2, netns: 1, skaddr: 'a', uid: 0, inode: 1, state: TCP.CLOSE_WAIT },
    holders: new Map(holders.map(([pid, comm]) => [pid, { comm, fds: [3] }])),
    side: 'client',
  };
}

const NO_HOLDERS = { top: [], otherSockets: 0, processes: 0 };
const STATE_COUNTS = [0, 5, 0, 0, 0, 2, 7, 0, 3, 0, 1, 0, 4, 0, 0, 0];
const OWN_NETNS = 4026531840;
/** tcptrace's own namespace with STATE_COUNTS (what LiveSource.stateCounts gives with no other namespace). */
const OWN_ONLY: NamespaceCounts[] = [{
  netns: OWN_NETNS, counts: STATE_COUNTS, listeners: [], own: true, holder: { inode: OWN_NETNS, name: null, pod: null, podUid: null, container: null },
}];

/** The sample lines of one metric family (no comments), as text. */
async function samples(metrics: TcpMetrics, name: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `) || line.startsWith(`${name}_`));
}

function newMetrics(loss: () => LossCounts = () => ({ tracer: NO_LOSS, connectionsDropped: 0 })): TcpMetrics {
  return new TcpMetrics('1.2.3', loss);
}

test('summariseHolders: per process, most first, ties by pid, the rest summed', () => {
  const holdings = [heldBy([30, 'c']), heldBy([10, 'a']), heldBy([10, 'a'], [20, 'b']), heldBy([20, 'b']), heldBy([40, 'd'])];
  assert.deepEqual(summariseHolders(holdings, 2), {
    top: [{ pid: 10, comm: 'a', container: '', service: '127.0.0.1:2', sockets: 2 }, { pid: 20, comm: 'b', container: '', service: '127.0.0.1:2', sockets: 2 }],
    otherSockets: 2,
    processes: 4,
  });
  assert.deepEqual(summariseHolders(holdings, 10).otherSockets, 0);
  // A socket shared after fork counts for each holder; one held by no listed process counts for none.
  assert.deepEqual(summariseHolders([heldBy([1, 'p'], [2, 'p']), heldBy()], 5).top.map((h) => h.sockets), [1, 1]);
});

test('state gauge: every kernel state per namespace, zeros included, from the kernel\'s counts', async () => {
  const m = newMetrics();
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: NO_HOLDERS, closeWaitOldestSeconds: 0, ephemeralPorts: 28232 });
  const lines = await samples(m, METRICS.sockets.name);
  assert.equal(lines.length, GAUGE_STATES.length);
  assert.equal(GAUGE_STATES.length, 12);
  assert.ok(lines.includes('tcptrace_sockets{netns="4026531840",state="ESTABLISHED"} 5'), lines.join('\n'));
  assert.ok(lines.includes('tcptrace_sockets{netns="4026531840",state="TIME_WAIT"} 7'));
  assert.ok(lines.includes('tcptrace_sockets{netns="4026531840",state="CLOSE_WAIT"} 3'));
  assert.ok(lines.includes('tcptrace_sockets{netns="4026531840",state="NEW_SYN_RECV"} 4'));
  assert.ok(lines.includes('tcptrace_sockets{netns="4026531840",state="SYN_SENT"} 0'));
  assert.deepEqual(await samples(m, METRICS.netnsInfo.name),
    ['tcptrace_netns_info{netns="4026531840",name="",pod="",pod_uid="",container="",own="true"} 1']);
  assert.deepEqual(await samples(m, METRICS.ephemeralPorts.name), ['tcptrace_ephemeral_ports 28232']);
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: NO_HOLDERS, closeWaitOldestSeconds: 0, ephemeralPorts: null });
  // prom-client writes "Nan", which Prometheus parses as NaN (case-insensitive).
  assert.match((await samples(m, METRICS.ephemeralPorts.name)).join('\n'), /^tcptrace_ephemeral_ports nan$/i, 'an unreadable range is unknown, not 0');
});

test('state gauge: a pod\'s namespace gets its own series and an info line naming it; a namespace gone since is dropped', async () => {
  const m = newMetrics();
  const pod: NamespaceCounts = {
    netns: 4026532321, counts: [0, 0, 0, 0, 0, 0, 0, 0, 40], listeners: [], own: false,
    holder: { inode: 4026532321, name: null, pod: 'web-7d9f', podUid: '5f1d2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b', container: 'ab'.repeat(32) },
  };
  m.refresh({ listenDrops: [], namespaces: [...OWN_ONLY, pod], holders: NO_HOLDERS, closeWaitOldestSeconds: 0, ephemeralPorts: 1 });
  const lines = await samples(m, METRICS.sockets.name);
  assert.equal(lines.length, 2 * GAUGE_STATES.length);
  assert.ok(lines.includes('tcptrace_sockets{netns="4026532321",state="CLOSE_WAIT"} 40'));
  assert.ok(lines.includes('tcptrace_sockets{netns="4026531840",state="CLOSE_WAIT"} 3'));
  assert.ok((await samples(m, METRICS.netnsInfo.name)).includes(
    `tcptrace_netns_info{netns="4026532321",name="",pod="web-7d9f",pod_uid="5f1d2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b",container="${'ab'.repeat(32)}",own="false"} 1`));
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: NO_HOLDERS, closeWaitOldestSeconds: 0, ephemeralPorts: 1 });
  assert.ok(!(await samples(m, METRICS.sockets.name)).some((l) => l.includes('4026532321')), 'the pod is gone: so are its series');
  assert.equal((await samples(m, METRICS.netnsInfo.name)).length, 1);
});

test('transitions: one series per (old, new) pair seen, accept() returns not counted, accumulating', async () => {
  const m = newMetrics();
  m.addEvents([transition(TCP.SYN_SENT, TCP.ESTABLISHED), transition(TCP.SYN_SENT, TCP.ESTABLISHED), transition(TCP.ESTABLISHED, TCP.CLOSE_WAIT)]);
  m.addEvents([transition(TCP.ESTABLISHED, TCP.ESTABLISHED, 'accept')]);
  assert.deepEqual((await samples(m, METRICS.transitions.name)).sort(), [
    'tcptrace_transitions_total{old_state="ESTABLISHED",new_state="CLOSE_WAIT"} 1',
    'tcptrace_transitions_total{old_state="SYN_SENT",new_state="ESTABLISHED"} 2',
  ]);
  m.addEvents([transition(TCP.SYN_SENT, TCP.ESTABLISHED)]);
  assert.ok((await samples(m, METRICS.transitions.name)).includes('tcptrace_transitions_total{old_state="SYN_SENT",new_state="ESTABLISHED"} 3'));
});

test('histograms: ns in, seconds out, into the documented buckets; FIN_WAIT2 has none', async () => {
  const m = newMetrics();
  m.observe('connect', 40_000); // 40 µs: le="0.00005"
  m.observe('connect', 1_500_000_000); // one retransmitted SYN: (1, 3]
  m.observe('finWait2', 5);
  const lines = await samples(m, DURATION_HISTOGRAMS.connect!.name);
  assert.ok(lines.includes('tcptrace_connect_latency_seconds_bucket{le="0.00005"} 1'));
  assert.ok(lines.includes('tcptrace_connect_latency_seconds_bucket{le="1"} 1'));
  assert.ok(lines.includes('tcptrace_connect_latency_seconds_bucket{le="3"} 2'));
  assert.ok(lines.includes('tcptrace_connect_latency_seconds_count 2'));
  assert.ok(lines.includes('tcptrace_connect_latency_seconds_sum 1.50004'));
  assert.deepEqual(Object.keys(DURATION_HISTOGRAMS).sort(), ['accept', 'closeWait', 'connect', 'lifetime']);
  for (const spec of Object.values(DURATION_HISTOGRAMS)) {
    assert.ok(spec!.buckets.every((b, i) => i === 0 || b > spec!.buckets[i - 1]), `${spec!.name} buckets increase`);
    assert.match(spec!.name, /^tcptrace_[a-z_]+_seconds$/);
  }
});

test('CLOSE_WAIT holders: the top N by pid and comm, the rest under "other", old processes dropped', async () => {
  const m = newMetrics();
  const holdings = [heldBy([7, 'leaky']), heldBy([7, 'leaky']), heldBy([8, 'b"q\\uote']), heldBy([9, 'c'])];
  const containers = new Map([[7, '0123456789ab']]);
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: summariseHolders(holdings, 1, (pid) => containers.get(pid) ?? ''), closeWaitOldestSeconds: 0, ephemeralPorts: 1 });
  assert.deepEqual(await samples(m, METRICS.closeWaitHeld.name), [
    'tcptrace_close_wait_held_sockets{pid="7",comm="leaky",container="0123456789ab",service="127.0.0.1:2"} 2',
    'tcptrace_close_wait_held_sockets{pid="other",comm="other",container="other",service="other"} 2',
  ]);
  assert.deepEqual(await samples(m, METRICS.closeWaitHolders.name), ['tcptrace_close_wait_holder_processes 3']);
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: summariseHolders([heldBy([8, 'b"q\\uote'])], 1), closeWaitOldestSeconds: 0, ephemeralPorts: 1 });
  assert.deepEqual(await samples(m, METRICS.closeWaitHeld.name), [
    'tcptrace_close_wait_held_sockets{pid="8",comm="b\\"q\\\\uote",container="",service="127.0.0.1:2"} 1',
  ], 'pid 7 is gone, and label values are escaped');
  assert.deepEqual(Object.keys(OTHER_HOLDERS), [...HOLDER_LABELS]);
});

test('CLOSE_WAIT holders: one series per process and service, as culprits groups them; the peers\' ports are no label', async () => {
  const at = (sport: number, dport: number, side: 'client' | 'server'): CloseWaitHolding => ({
    ...heldBy([7, 'server']), side, socket: { ...heldBy().socket, saddr: '10.0.0.1', sport, daddr: '10.0.0.9', dport },
  });
  // A server leaking 300 sockets on :8080 from ephemeral client ports, and 2 on :9090; a pool towards 10.0.0.9:5432.
  const holdings = [
    ...Array.from({ length: 300 }, (_, i) => at(8080, 40_000 + i, 'server')),
    at(9090, 50_000, 'server'), at(9090, 50_001, 'server'), at(45_000, 5432, 'client'),
  ];
  const m = newMetrics();
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: summariseHolders(holdings, 10), closeWaitOldestSeconds: 0, ephemeralPorts: 1 });
  assert.deepEqual(await samples(m, METRICS.closeWaitHeld.name), [
    'tcptrace_close_wait_held_sockets{pid="7",comm="server",container="",service="10.0.0.1:8080"} 300',
    'tcptrace_close_wait_held_sockets{pid="7",comm="server",container="",service="10.0.0.1:9090"} 2',
    'tcptrace_close_wait_held_sockets{pid="7",comm="server",container="",service="10.0.0.9:5432"} 1',
  ]);
  assert.deepEqual(await samples(m, METRICS.closeWaitHolders.name), ['tcptrace_close_wait_holder_processes 1']);
});

test('the oldest CLOSE_WAIT socket\'s age is a gauge, 0 when none is', async () => {
  const m = newMetrics();
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: NO_HOLDERS, closeWaitOldestSeconds: 4.25, ephemeralPorts: 1 });
  assert.deepEqual(await samples(m, METRICS.closeWaitOldest.name), ['tcptrace_close_wait_oldest_seconds 4.25']);
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: NO_HOLDERS, closeWaitOldestSeconds: 0, ephemeralPorts: 1 });
  assert.deepEqual(await samples(m, METRICS.closeWaitOldest.name), ['tcptrace_close_wait_oldest_seconds 0']);
});

test('loss counters mirror the kernel\'s and the tracker\'s counts, never decreasing', async () => {
  let loss: LossCounts = { tracer: NO_LOSS, connectionsDropped: 0 };
  const m = newMetrics(() => loss);
  const lossLines = async () => [
    ...await samples(m, METRICS.lostEvents.name), ...await samples(m, METRICS.inferred.name),
    ...await samples(m, METRICS.mapFull.name), ...await samples(m, METRICS.connectionsDropped.name),
  ];
  assert.deepEqual(await lossLines(), [
    'tcptrace_lost_events_total{reason="ring_buffer_full"} 0',
    'tcptrace_lost_events_total{reason="nested"} 0',
    'tcptrace_inferred_transitions_total 0',
    'tcptrace_map_full_untracked_sockets_total 0',
    'tcptrace_tracker_evicted_connections_total 0',
  ]);
  loss = { tracer: { ...NO_LOSS, lostEvents: 5, lostRingBufferFull: 3, lostNested: 2, inferred: 1, untrackedSockets: 4 }, connectionsDropped: 6 };
  assert.deepEqual(await lossLines(), [
    'tcptrace_lost_events_total{reason="ring_buffer_full"} 3',
    'tcptrace_lost_events_total{reason="nested"} 2',
    'tcptrace_inferred_transitions_total 1',
    'tcptrace_map_full_untracked_sockets_total 4',
    'tcptrace_tracker_evicted_connections_total 6',
  ]);
  // The nested count is a difference of two kernel counts and may dip for a moment.
  loss = { ...loss, tracer: { ...loss.tracer, lostNested: 1 } };
  assert.ok((await lossLines()).includes('tcptrace_lost_events_total{reason="nested"} 2'));
});

test('build info names the version and Node.js', async () => {
  assert.deepEqual(await samples(newMetrics(), METRICS.buildInfo.name),
    [`tcptrace_build_info{version="1.2.3",nodejs_version="${process.version}"} 1`]);
});

test('promtool check metrics passes on every family, all populated', async () => {
  const m = newMetrics(() => ({ tracer: { ...NO_LOSS, lostRingBufferFull: 1, lostNested: 1, inferred: 1, untrackedSockets: 1 }, connectionsDropped: 1 }));
  m.addEvents([transition(TCP.SYN_SENT, TCP.ESTABLISHED), transition(TCP.LAST_ACK, TCP.CLOSE)]);
  for (const kind of ['connect', 'accept', 'lifetime', 'closeWait'] as const) m.observe(kind, 1e6);
  m.refresh({ listenDrops: [], namespaces: OWN_ONLY, holders: summariseHolders([heldBy([7, 'a']), heldBy([8, 'b'])], 1), closeWaitOldestSeconds: 0, ephemeralPorts: 28232 });
  const text = await m.registry.metrics();
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  assert.equal(check.error, undefined, 'promtool runs (Debian package prometheus: scripts/setup.sh --test)');
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.equal((check.stdout + check.stderr).trim(), '');
  for (const family of text.matchAll(/^# TYPE (tcptrace_\w+) (\w+)$/gm)) {
    assert.equal(family[1].endsWith('_total'), family[2] === 'counter', `${family[1]} is a ${family[2]}`);
  }
});

/** Aggregates as the kernel would count these durations (ns) against durationBoundsNs(), and these transitions. */
function kernelCounted(durations: Partial<Record<MeasureKind, number[]>>, transitions: [number, number][] = []): KernelAggregates {
  const bounds = durationBoundsNs();
  const perMeasure = <T>(make: (kind: MeasureKind, i: number) => T) =>
    Object.fromEntries(MEASURE_KINDS.map((kind, i) => [kind, make(kind, i)])) as Record<MeasureKind, T>;
  const matrix = Array.from({ length: 16 }, () => new Array<number>(16).fill(0));
  for (const [o, n] of transitions) matrix[o][n]++;
  return {
    histograms: perMeasure(() => ({ buckets: new Array<number>(64).fill(0), sum: 0 })),
    transitions: matrix,
    bounded: perMeasure((kind, i) => {
      const counts = new Array<number>(MAX_BOUNDS + 1).fill(0);
      for (const ns of durations[kind] ?? []) {
        const at = bounds[i].findIndex((b) => ns <= b);
        counts[at === -1 ? bounds[i].length : at]++;
      }
      return { counts, sumNs: (durations[kind] ?? []).reduce((a, b) => a + b, 0) };
    }),
    resetsSent: {},
    resetsReceived: 0,
  };
}

test('kernel-counted histograms and transitions are written exactly as the ones fed by events', async () => {
  const durations: Partial<Record<MeasureKind, number[]>> = {
    connect: [40_000, 50_000, 50_001, 1_500_000_000, 40e9], accept: [9_000, 2e9], lifetime: [1e6, 2e11], closeWait: [0, 5e8],
  };
  const transitions: [number, number][] = [[TCP.SYN_SENT, TCP.ESTABLISHED], [TCP.SYN_SENT, TCP.ESTABLISHED], [TCP.ESTABLISHED, TCP.CLOSE_WAIT]];
  const fromEvents = newMetrics();
  for (const [kind, values] of Object.entries(durations) as [MeasureKind, number[]][]) for (const ns of values) fromEvents.observe(kind, ns);
  fromEvents.addEvents(transitions.map(([o, n]) => transition(o, n)));
  const fromKernel = new TcpMetrics('1.2.3', () => ({ tracer: NO_LOSS, connectionsDropped: 0 }), () => kernelCounted(durations, transitions));
  for (const name of [...Object.values(DURATION_HISTOGRAMS).map((s) => s!.name), METRICS.transitions.name]) {
    assert.deepEqual(await samples(fromKernel, name), await samples(fromEvents, name), name);
  }
});

test('every histogram fits the kernel: at most MAX_BOUNDS bounds, in whole ns', () => {
  const bounds = durationBoundsNs();
  assert.equal(bounds.length, MEASURE_KINDS.length);
  for (const list of bounds) {
    assert.ok(list.length <= MAX_BOUNDS, `${list.length} bounds`);
    assert.ok(list.every((b) => Number.isInteger(b) && b > 0));
  }
  assert.deepEqual(bounds[MEASURE_KINDS.indexOf('connect')].slice(0, 2), [50_000, 100_000]);
});

test('resets: the RSTs that ended connections, sent by reason or received, alike from events and from the kernel', async () => {
  const ended = (reset: 'sent' | 'received', resetReason: string | null): TransitionEvent =>
    ({ ...transition(TCP.ESTABLISHED, TCP.CLOSE), reset, resetReason });
  const fromEvents = newMetrics();
  fromEvents.addEvents([ended('sent', 'TCP_ABORT_ON_CLOSE'), ended('sent', 'TCP_ABORT_ON_CLOSE'), ended('sent', null), ended('received', null),
    transition(TCP.ESTABLISHED, TCP.CLOSE)]);
  const counted = { ...kernelCounted({}, []), resetsSent: { TCP_ABORT_ON_CLOSE: 2, 'not known': 1 }, resetsReceived: 1 };
  const fromKernel = new TcpMetrics('1.2.3', () => ({ tracer: NO_LOSS, connectionsDropped: 0 }), () => counted);
  const expected = [
    'tcptrace_resets_total{direction="sent",reason="TCP_ABORT_ON_CLOSE"} 2',
    'tcptrace_resets_total{direction="sent",reason="not known"} 1',
    'tcptrace_resets_total{direction="received",reason=""} 1',
  ];
  assert.deepEqual((await samples(fromEvents, METRICS.resets.name)).sort(), [...expected].sort());
  assert.deepEqual((await samples(fromKernel, METRICS.resets.name)).sort(), [...expected].sort());
});

test('listen drops: a counter per listener that dropped, by namespace and address, never going back', async () => {
  const m = newMetrics();
  const refresh = (drops: number) => m.refresh({
    namespaces: OWN_ONLY, listenDrops: [{ netns: OWN_NETNS, listener: '127.0.0.1:8080', drops }], holders: NO_HOLDERS, closeWaitOldestSeconds: 0, ephemeralPorts: 1,
  });
  refresh(7);
  assert.deepEqual(await samples(m, METRICS.listenDrops.name), ['tcptrace_listen_drops_total{netns="4026531840",listener="127.0.0.1:8080"} 7']);
  refresh(12);
  assert.deepEqual(await samples(m, METRICS.listenDrops.name), ['tcptrace_listen_drops_total{netns="4026531840",listener="127.0.0.1:8080"} 12']);
});
