/** The terminal view of `tcptrace live`, redrawn every second. */
import { Log2Histogram } from '../model/hist';
import { LatencySet, MEASURES } from '../model/latency';
import { LiveStats, Ranked } from '../model/live-stats';
import { TracerCounters } from '../kernel/native';
import { OPEN_STATES, stateName, TCP } from '../kernel/states';
import { formatMicros, thousands } from '../units';
import { Column, renderTable } from './table';

export interface LiveViewInput {
  now: string;
  elapsedSeconds: number;
  intervalSeconds: number;
  stateCounts: number[];
  stats: LiveStats;
  counters: TracerCounters;
  filters: string;
  /** Filters the kernel's socket counts cannot apply (--netns, --cgroup), named in their title. */
  unfilteredCounts?: string[];
  topN: number;
  /** Durations since start, in microseconds. */
  latencies: LatencySet;
  /** Connections the view's tracker stopped following (too many open at once). */
  connectionsDropped?: number;
}

const SHORT_TITLES: Record<string, string> = {
  connect: 'connect (SYN_SENT -> ESTABLISHED)',
  accept: 'accept-queue wait',
  lifetime: 'connection lifetime',
  closeWait: "CLOSE_WAIT: peer's FIN -> close",
  finWait2: 'FIN_WAIT2',
};

const BLOCKS = ' ▁▂▃▄▅▆▇█';

/** One character per log2 bucket, from the first non-empty to the last. */
export function sparkline(h: Log2Histogram): string {
  const rows = h.buckets();
  const first = rows.findIndex((b) => b.count > 0);
  const shown = rows.slice(first);
  const max = Math.max(...shown.map((b) => b.count));
  return shown.map((b) => BLOCKS[b.count === 0 ? 0 : Math.max(1, Math.round((b.count / max) * 8))]).join('');
}

function latencyTable(latencies: LatencySet): string[] {
  const rows = MEASURES.map(({ kind }) => ({ kind, h: latencies.get(kind).entries()[0]?.[1] }))
    .filter((r): r is { kind: (typeof MEASURES)[number]['kind']; h: Log2Histogram } => r.h !== undefined);
  if (rows.length === 0) return ['  DISTRIBUTION', '  (none yet)'];
  const pct = (p: number) => (r: { h: Log2Histogram }) => formatMicros(r.h.percentile(p) ?? 0);
  return renderTable([
    { header: 'DISTRIBUTION', value: (r) => SHORT_TITLES[r.kind] },
    { header: 'SAMPLES', value: (r) => thousands(r.h.count), align: 'right' },
    { header: 'P50<=', value: pct(50), align: 'right' },
    { header: 'P90<=', value: pct(90), align: 'right' },
    { header: 'P99<=', value: pct(99), align: 'right' },
    { header: 'SHAPE (log2 buckets)', value: (r) => sparkline(r.h) },
  ], rows, '  ');
}


/** `detailHeader` titles a column of the rows' details, shown when any row has one. */
function rankedTable(title: string, rows: Ranked[], detailHeader?: string): string[] {
  const columns: Column<Ranked>[] = [
    { header: title, value: (r) => r.label },
    ...(detailHeader && rows.some((r) => r.detail !== null) ? [{ header: detailHeader, value: (r: Ranked) => r.detail ?? '-' }] : []),
    { header: 'PER SEC', value: (r) => thousands(r.perSecond), align: 'right' },
    { header: 'TOTAL', value: (r) => thousands(r.total), align: 'right' },
  ];
  return rows.length ? renderTable(columns, rows, '  ') : [`  ${title}`, '  (none yet)'];
}

function stateTable(counts: number[]): string[] {
  const columns: Column<number>[] = OPEN_STATES.map((state) => ({
    header: state === TCP.NEW_SYN_RECV ? 'SYN_RECV(req)' : stateName(state),
    value: (row: number) => thousands(counts[state] ?? 0),
    align: 'right' as const,
  }));
  return renderTable(columns, [0], '  ');
}

export function renderLiveView(v: LiveViewInput): string {
  const { stats, counters } = v;
  const rate = stats.lastIntervalTotal / v.intervalSeconds;
  const lost = counters.lostEvents ? `LOST ${thousands(counters.lostEvents)}` : 'lost 0';
  const lines = [
    `tcptrace live  ${v.now}  up ${Math.floor(v.elapsedSeconds)}s  transitions ${thousands(stats.total)} (${thousands(rate)}/s)  ${lost}` +
      (counters.untrackedSockets ? `  untracked sockets ${thousands(counters.untrackedSockets)}` : '') +
      (v.connectionsDropped ? `  connections dropped ${thousands(v.connectionsDropped)}` : '') +
      (v.filters ? `  filters: ${v.filters}` : ''),
    '',
    v.unfilteredCounts?.length
      ? `Sockets by state (now, tcptrace's own network namespace; not filtered by ${v.unfilteredCounts.join(' or ')}; TIME_WAIT has no owner)`
      : 'Sockets by state (now, this network namespace; TIME_WAIT has no owner)',
    ...stateTable(v.stateCounts),
    '',
    ...latencyTable(v.latencies),
    '',
    ...rankedTable('TRANSITION', stats.transitions.top(v.topN, v.intervalSeconds)),
    '',
    ...rankedTable('PROCESS', stats.processes.top(v.topN, v.intervalSeconds), 'CONTAINER'),
    '',
    ...rankedTable('PEER', stats.peers.top(v.topN, v.intervalSeconds)),
    '',
    'Ctrl-C to stop',
  ];
  return lines.join('\n');
}
