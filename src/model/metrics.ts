/**
 * The Prometheus metrics `tcptrace serve` exposes, defined here as data:
 * names, help, labels and histogram buckets, and how tcptrace's own
 * measurements feed them. Labels stay low-cardinality by design: states and
 * loss reasons, never sockets, ports or peers; processes only for CLOSE_WAIT
 * holders, capped to the top N with the rest summed.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Metric, Registry } from 'prom-client';
import { CloseWaitHolding, serviceEndpoint } from './culprits';
import { BoundedHistogram, KernelAggregates, MEASURE_KINDS, STATE_COUNT_SLOTS, TransitionEvent } from '../kernel/decoder';
import { TracerCounters } from '../kernel/native';
import { COUNTED_STATES, stateName, TCP } from '../kernel/states';
import { MeasureKind } from './tracker';
import { ListenerDropTotal } from './listen-drops';
import { NamespaceCounts } from './state-counts';

export interface HistogramSpec {
  name: string;
  help: string;
  /** Upper bounds in seconds, fixed (docs/metrics.md, "Histogram buckets"). */
  buckets: number[];
}

/**
 * The four duration histograms, in seconds. The buckets follow what each
 * duration means in practice, not a generic series.
 */
export const DURATION_HISTOGRAMS: Partial<Record<MeasureKind, HistogramSpec>> = {
  // Loopback and same-host connects take tens of µs, a LAN under a ms, a
  // WAN tens to hundreds of ms. A lost SYN is resent after 1 s, then 2 s,
  // 4 s, 8 s (RFC 6298's initial RTO, doubled): the bounds 1, 3, 7, 15 and 31
  // put connects that needed 1, 2, 3 or 4 retransmitted SYNs in their own bucket.
  connect: {
    name: 'tcptrace_connect_latency_seconds',
    help: 'Client connect latency: SYN_SENT to ESTABLISHED',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3, 7, 15, 31],
  },
  // A server keeping up accepts within µs of the handshake; a busy event loop
  // or a full worker pool shows as ms; seconds mean clients are timing out.
  accept: {
    name: 'tcptrace_accept_queue_wait_seconds',
    help: 'Server accept-queue wait: handshake complete (ESTABLISHED) to accept() returning the socket',
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  },
  // From one request (ms) through keep-alive pools (tens of s to minutes,
  // common idle timeouts 5 s, 60 s, 300 s) to long-lived sessions (hours, a day).
  lifetime: {
    name: 'tcptrace_connection_lifetime_seconds',
    help: 'Connection lifetime, birth to CLOSE, for connections born while traced',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400],
  },
  // A program that reads EOF and closes does so within ms; one that notices
  // only on its next use of a pooled connection takes seconds to minutes;
  // a leak never closes (it shows in tcptrace_close_wait_held_sockets instead).
  closeWait: {
    name: 'tcptrace_close_wait_duration_seconds',
    help: "Time in CLOSE_WAIT: the peer's FIN to the program closing its side",
    buckets: [0.0001, 0.001, 0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600],
  },
};

/**
 * The labels a CLOSE_WAIT holder's sockets are known by, as culprits groups
 * them: the process, and the service (this host's listening address:port, or
 * the destination it connected to). The one place to add one.
 */
export const HOLDER_LABELS = ['pid', 'comm', 'container', 'service'] as const;
export type HolderLabel = (typeof HOLDER_LABELS)[number];

export interface CloseWaitHolder {
  pid: number;
  comm: string;
  /** Its container's short id (12 hex), or "" when it is not in one (Prometheus: no label). */
  container: string;
  /** The service end of these sockets: "127.0.0.1:8080". */
  service: string;
  /** CLOSE_WAIT sockets it holds (one shared after fork counts for each holder). */
  sockets: number;
}

export function holderLabels(holder: CloseWaitHolder): Record<HolderLabel, string> {
  return { pid: String(holder.pid), comm: holder.comm, container: holder.container, service: holder.service };
}

/** The series the holders beyond the top N are summed into. */
export const OTHER_HOLDERS = Object.fromEntries(HOLDER_LABELS.map((label) => [label, 'other'])) as Record<HolderLabel, string>;

export interface HolderSummary {
  /** The N (process, service) pairs holding the most, most first (ties: lowest pid first). */
  top: CloseWaitHolder[];
  /** Sockets held by all the others. */
  otherSockets: number;
  /** Processes holding any CLOSE_WAIT socket, named or summed. */
  processes: number;
}

/** Per process and service, its CLOSE_WAIT sockets; the top N kept, the rest summed. */
export function summariseHolders(
  holdings: CloseWaitHolding[],
  topN: number,
  containerOf: (pid: number) => string = () => '',
): HolderSummary {
  const series = new Map<string, CloseWaitHolder>();
  for (const { socket, holders, side } of holdings) {
    const service = serviceEndpoint(socket, side);
    for (const [pid, { comm }] of holders) {
      const key = `${pid} ${service}`;
      const holder = series.get(key) ?? { pid, comm, container: containerOf(pid), service, sockets: 0 };
      holder.sockets++;
      series.set(key, holder);
    }
  }
  const ranked = [...series.values()].sort((a, b) => b.sockets - a.sockets || a.pid - b.pid || a.service.localeCompare(b.service));
  const rest = ranked.slice(topN);
  const processes = new Set(ranked.map((h) => h.pid)).size;
  return { top: ranked.slice(0, topN), otherSockets: rest.reduce((sum, h) => sum + h.sockets, 0), processes };
}

/** The states the kernel can report a socket in (NEW_SYN_RECV: a request socket). */
export const GAUGE_STATES = COUNTED_STATES.map(stateName);

export const METRICS = {
  sockets: {
    name: 'tcptrace_sockets',
    help: 'TCP sockets per network namespace (its inode, as lsns and ss show it) and state, as the kernel counts them (ss -tan), ' +
      'after the family and port filters: every namespace of the host, or those of --netns, or those --cgroup\'s processes are in; refreshed every --interval',
    labelNames: ['netns', 'state'],
  },
  netnsInfo: {
    name: 'tcptrace_netns_info',
    help: 'Always 1, per network namespace counted: what names it (its ip netns name; the pod, by its hostname, and its UID; the container id of a process in it), ' +
      '"" where nothing does; own="true" for tcptrace\'s own',
    labelNames: ['netns', 'name', 'pod', 'pod_uid', 'container', 'own'],
  },
  transitions: {
    name: 'tcptrace_transitions_total',
    help: 'TCP state transitions seen (inferred ones included), by old and new state',
    labelNames: ['old_state', 'new_state'],
  },
  closeWaitHeld: {
    name: 'tcptrace_close_wait_held_sockets',
    help: 'CLOSE_WAIT sockets held per process (the fd holder now) and service (its listening address:port, or the destination), for the --top pairs holding the most; the rest summed under pid="other"; refreshed every --interval',
    labelNames: [...HOLDER_LABELS],
  },
  closeWaitHolders: {
    name: 'tcptrace_close_wait_holder_processes',
    help: 'Processes holding at least one CLOSE_WAIT socket, those summed under pid="other" included; refreshed every --interval',
    labelNames: [],
  },
  resets: {
    name: 'tcptrace_resets_total',
    help: 'RSTs that ended connections, sent by this host (reason: the kernel\'s, "not known" before Linux 6.10) or received; ' +
      'without --cgroup also RSTs sent with no connection (to a closed port: NO_SOCKET)',
    labelNames: ['direction', 'reason'],
  },
  closeWaitOldest: {
    name: 'tcptrace_close_wait_oldest_seconds',
    help: 'How long the oldest socket now in CLOSE_WAIT has been in it (one already in CLOSE_WAIT when tcptrace started counts from then); 0 when none; refreshed every --interval',
    labelNames: [],
  },
  listenDrops: {
    name: 'tcptrace_listen_drops_total',
    help: 'Connections a listener dropped (SYNs and completed handshakes), mostly because its accept queue was full, as the kernel counts them per listener ' +
      '(ListenDrops, per socket): listeners that dropped any, by network namespace and address; the first value includes drops before tcptrace started; ' +
      'read every --interval (tcptrace doctor names the program, and whether its listen() backlog or net.core.somaxconn is the limit)',
    labelNames: ['netns', 'listener'],
  },
  lostEvents: {
    name: 'tcptrace_lost_events_total',
    help: 'Transitions that never reached tcptrace: ring_buffer_full (raise --ring-buffer) or nested (skipped by the kernel while the program ran on that CPU)',
    labelNames: ['reason'],
  },
  inferred: {
    name: 'tcptrace_inferred_transitions_total',
    help: 'Transitions the kernel ran no BPF program for, deduced from the socket\'s next transition',
    labelNames: [],
  },
  mapFull: {
    name: 'tcptrace_map_full_untracked_sockets_total',
    help: 'Sockets the kernel side could not follow because the kernel had no memory for their socket storage: their transitions carry no owner and no dwell time',
    labelNames: [],
  },
  connectionsDropped: {
    name: 'tcptrace_tracker_evicted_connections_total',
    help: 'Connections user space stopped following (the oldest, beyond 500000 at once): their later durations are not measured',
    labelNames: [],
  },
  ephemeralPorts: {
    name: 'tcptrace_ephemeral_ports',
    help: 'Ports in net.ipv4.ip_local_port_range of this network namespace (connect() picks local ports from it); refreshed every --interval',
    labelNames: [],
  },
  buildInfo: {
    name: 'tcptrace_build_info',
    help: 'Always 1; the labels say which tcptrace and Node.js are running',
    labelNames: ['version', 'nodejs_version'],
  },
} as const;

/** What the kernel side and the tracker have counted so far (cumulative). */
export interface LossCounts {
  tracer: TracerCounters;
  connectionsDropped: number;
}

/** The values refreshed every interval. */
export interface Refresh {
  /** Sockets per kernel state number in each network namespace counted (LiveSource.stateCounts). */
  namespaces: NamespaceCounts[];
  /** What each listener that ever dropped has dropped, cumulative (ListenDrops.cumulative). */
  listenDrops: ListenerDropTotal[];
  holders: HolderSummary;
  /** The oldest CLOSE_WAIT socket's time in it so far (s); 0 when none. */
  closeWaitOldestSeconds: number;
  /** Size of the ephemeral port range; null if it could not be read. */
  ephemeralPorts: number | null;
}

const NS_PER_SECOND = 1e9;

/** The histograms' bounds in ns, per measure in MEASURE_KINDS' order, for the kernel to count them itself. */
export function durationBoundsNs(): number[][] {
  return MEASURE_KINDS.map((kind) => (DURATION_HISTOGRAMS[kind]?.buckets ?? []).map((s) => Math.round(s * NS_PER_SECOND)));
}

/**
 * A histogram the kernel counted against the spec's bounds (durationBoundsNs),
 * written exactly as prom-client writes its own: cumulative buckets, +Inf,
 * sum and count.
 */
function kernelCountedHistogram(spec: HistogramSpec, read: () => BoundedHistogram): Metric {
  const bucket = `${spec.name}_bucket`;
  const metric = {
    name: spec.name, help: spec.help, type: 'histogram', aggregator: 'sum',
    get: async () => {
      const { counts, sumNs } = read();
      let below = 0;
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] =
        spec.buckets.map((le, i) => ({ metricName: bucket, labels: { le }, value: (below += counts[i]) }));
      const count = below + counts[spec.buckets.length];
      values.push(
        { metricName: bucket, labels: { le: '+Inf' }, value: count },
        { metricName: `${spec.name}_sum`, labels: {}, value: sumNs / NS_PER_SECOND },
        { metricName: `${spec.name}_count`, labels: {}, value: count },
      );
      return { ...metric, values };
    },
  };
  return metric as unknown as Metric;
}

/** prom-client's default gauges named like counters (promtool check metrics rejects them). */
const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * A counter mirroring cumulative counts kept elsewhere (by the kernel, by the
 * tracker), read at each scrape: each scrape adds what is new, so it never
 * decreases, as a Prometheus counter must not. Every series exists from the
 * start, at 0.
 */
function mirroredCounter(
  spec: { name: string; help: string; labelNames: readonly string[] },
  registry: Registry,
  read: () => [value: number, labels: Record<string, string>][],
): Counter<string> {
  const reported = new Map<string, number>();
  return new Counter({
    name: spec.name, help: spec.help, labelNames: [...spec.labelNames], registers: [registry],
    collect() {
      for (const [value, labels] of read()) {
        const key = JSON.stringify(labels);
        const before = reported.get(key);
        if (before !== undefined && value <= before) continue;
        this.inc(labels, value - (before ?? 0));
        reported.set(key, value);
      }
    },
  });
}

export class TcpMetrics {
  readonly registry = new Registry();
  private readonly socketsGauge: Gauge<string>;
  private readonly netnsInfoGauge: Gauge<string>;
  private readonly heldGauge: Gauge<string>;
  private readonly holdersGauge: Gauge<string>;
  private readonly closeWaitOldestGauge: Gauge<string>;
  private readonly portsGauge: Gauge<string>;
  private readonly histograms = new Map<MeasureKind, Histogram<string>>();
  /** Transitions counted per (old, new) state pair, published at each scrape: cheaper than a labelled inc per event. */
  private readonly transitionCounts = new Float64Array(STATE_COUNT_SLOTS * STATE_COUNT_SLOTS);
  private readonly transitionsReported = new Float64Array(STATE_COUNT_SLOTS * STATE_COUNT_SLOTS);
  /** RSTs that ended connections, from events (when the kernel does not count them): "sent|REASON" or "received|". */
  private readonly resetCounts = new Map<string, number>();
  private listenDrops: Refresh['listenDrops'] = [];

  /** kernel: the kernel's aggregates, when it counts transitions and durations itself (no events come then). */
  constructor(version: string, lossCounts: () => LossCounts, kernel?: () => KernelAggregates) {
    const registry = this.registry;
    const registers = [registry];
    const gauge = (spec: { name: string; help: string; labelNames: readonly string[] }) =>
      new Gauge({ name: spec.name, help: spec.help, labelNames: [...spec.labelNames], registers });
    this.socketsGauge = gauge(METRICS.sockets);
    this.netnsInfoGauge = gauge(METRICS.netnsInfo);
    this.heldGauge = gauge(METRICS.closeWaitHeld);
    this.holdersGauge = gauge(METRICS.closeWaitHolders);
    this.closeWaitOldestGauge = gauge(METRICS.closeWaitOldest);
    this.portsGauge = gauge(METRICS.ephemeralPorts);
    gauge(METRICS.buildInfo).set({ version, nodejs_version: process.version }, 1);
    for (const [kind, spec] of Object.entries(DURATION_HISTOGRAMS) as [MeasureKind, HistogramSpec][]) {
      if (kernel) registry.registerMetric(kernelCountedHistogram(spec, () => kernel().bounded[kind]));
      else this.histograms.set(kind, new Histogram({ name: spec.name, help: spec.help, buckets: spec.buckets, registers }));
    }

    const metrics = this;
    new Counter({
      name: METRICS.transitions.name, help: METRICS.transitions.help,
      labelNames: [...METRICS.transitions.labelNames], registers,
      collect() {
        if (kernel) metrics.transitionCounts.set(kernel().transitions.flat());
        metrics.publishTransitions(this);
      },
    });
    mirroredCounter(METRICS.lostEvents, registry, () => {
      const { tracer } = lossCounts();
      return [[tracer.lostRingBufferFull, { reason: 'ring_buffer_full' }], [tracer.lostNested, { reason: 'nested' }]];
    });
    mirroredCounter(METRICS.resets, registry, () => (kernel ? kernelResets(kernel()) : [...metrics.resetCounts])
      .map(([key, n]) => { const [direction, reason] = key.split('|'); return [n, { direction, reason }]; }));
    mirroredCounter(METRICS.listenDrops, registry, () => metrics.listenDrops.map(({ netns, listener, drops }) => [drops, { netns: String(netns), listener }]));
    mirroredCounter(METRICS.inferred, registry, () => [[lossCounts().tracer.inferred, {}]]);
    mirroredCounter(METRICS.mapFull, registry, () => [[lossCounts().tracer.untrackedSockets, {}]]);
    mirroredCounter(METRICS.connectionsDropped, registry, () => [[lossCounts().connectionsDropped, {}]]);
    // The agent's own cost: CPU, memory, event-loop delay (prom-client's process_ and nodejs_ metrics).
    collectDefaultMetrics({ register: registry });
    for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }

  /** Counts each transition (accept() returning a socket is not one), and the RST that ended a connection. */
  addEvents(events: TransitionEvent[]): void {
    for (const e of events) {
      if (e.kind === 'transition' && e.oldstate < STATE_COUNT_SLOTS && e.newstate < STATE_COUNT_SLOTS) {
        this.transitionCounts[e.oldstate * STATE_COUNT_SLOTS + e.newstate]++;
      }
      if (e.reset) {
        const key = resetKey(e.reset, e.resetReason ?? null);
        this.resetCounts.set(key, (this.resetCounts.get(key) ?? 0) + 1);
      }
    }
  }

  /** A duration the tracker measured, in ns; kinds without a histogram are left out. */
  observe(kind: MeasureKind, ns: number): void {
    this.histograms.get(kind)?.observe(ns / NS_PER_SECOND);
  }

  refresh({ namespaces, listenDrops, holders, closeWaitOldestSeconds, ephemeralPorts }: Refresh): void {
    this.listenDrops = listenDrops;
    // Namespaces come and go (pods): only those counted now are kept.
    this.socketsGauge.reset();
    this.netnsInfoGauge.reset();
    for (const { netns, counts, holder, own } of namespaces) {
      for (const state of COUNTED_STATES) this.socketsGauge.set({ netns, state: stateName(state) }, counts[state] ?? 0);
      this.netnsInfoGauge.set({
        netns, name: holder.name ?? '', pod: holder.pod ?? '', pod_uid: holder.podUid ?? '', container: holder.container ?? '', own: String(own),
      }, 1);
    }
    // Processes come and go: only the current top N (and "other") are kept.
    this.heldGauge.reset();
    for (const holder of holders.top) this.heldGauge.set(holderLabels(holder), holder.sockets);
    if (holders.otherSockets) this.heldGauge.set(OTHER_HOLDERS, holders.otherSockets);
    this.holdersGauge.set(holders.processes);
    this.closeWaitOldestGauge.set(closeWaitOldestSeconds);
    // Unknown is NaN, not 0: an alert comparing against it stays quiet rather than firing.
    this.portsGauge.set(ephemeralPorts ?? NaN);
  }

  private publishTransitions(counter: Counter<string>): void {
    for (let i = 0; i < this.transitionCounts.length; i++) {
      const delta = this.transitionCounts[i] - this.transitionsReported[i];
      if (delta === 0) continue;
      const labels = { old_state: stateName(Math.floor(i / STATE_COUNT_SLOTS)), new_state: stateName(i % STATE_COUNT_SLOTS) };
      counter.inc(labels, delta);
      this.transitionsReported[i] = this.transitionCounts[i];
    }
  }
}

/** A resets series: "sent|TCP_ABORT_ON_CLOSE", "sent|not known", "received|". */
function resetKey(direction: 'sent' | 'received', reason: string | null): string {
  return direction === 'received' ? 'received|' : `sent|${reason ?? 'not known'}`;
}

function kernelResets(counted: KernelAggregates): [string, number][] {
  return [
    ...Object.entries(counted.resetsSent).map(([reason, n]) => [resetKey('sent', reason), n] as [string, number]),
    [resetKey('received', null), counted.resetsReceived],
  ];
}
