/** The terminal view of `tcptrace live`, redrawn every second. */
import { Log2Histogram } from '../model/hist';
import { LatencySet, MEASURES } from '../model/latency';
import { LiveStats, Ranked } from '../model/live-stats';
import { TracerCounters } from '../kernel/native';
import { netnsLabel } from '../host/netns';
import { OPEN_STATES, stateName, TCP } from '../kernel/states';
import { TIME_WAIT_MANY } from '../model/findings';
import { DroppingListener } from '../model/listen-drops';
import { busiestFirst, NamespaceCounts, socketsIn, totalCounts } from '../model/state-counts';
import { clip, formatMicros, thousands } from '../units';
import { Hue, Paint, PLAIN, STATE_HUE } from './colour';
import { Column, renderTable } from './table';

export interface LiveViewInput {
  now: string;
  elapsedSeconds: number;
  intervalSeconds: number;
  /** Sockets per state now, in each network namespace counted. */
  namespaces: NamespaceCounts[];
  /** Listeners that dropped connections while watched (their accept queue was full), fastest first. */
  dropping: DroppingListener[];
  /** How long ago the namespaces other than tcptrace's own were counted (with many, not every second). */
  othersCountedSecondsAgo?: number;
  /** Which namespaces are counted, for the title: "every one on the host", "--netns net:[4026532321]". */
  countedWhere: string;
  stats: LiveStats;
  counters: TracerCounters;
  filters: string;
  topN: number;
  /** Durations since start, in microseconds. */
  latencies: LatencySet;
  /** Connections the view's tracker stopped following (too many open at once). */
  connectionsDropped?: number;
  /** The terminal: the view fits it (fewer rows per table, then fewer tables); unset, it is drawn whole. */
  screen?: ScreenSize;
  paint?: Paint;
}

export interface ScreenSize {
  columns: number;
  rows: number;
}

/** CLOSE_WAIT sockets past which the view names the command that says who holds them. */
export const CLOSE_WAIT_HINT = 100;

/** When a state is high, the command to run next: the view only counts, these explain. */
const NEXT_COMMANDS: { state: number; atLeast: number; say: (count: string) => string }[] = [
  { state: TCP.CLOSE_WAIT, atLeast: CLOSE_WAIT_HINT, say: (n) => `${n} in CLOSE_WAIT: sudo tcptrace culprits names who holds them, and why` },
  { state: TCP.TIME_WAIT, atLeast: TIME_WAIT_MANY, say: (n) => `${n} in TIME_WAIT: sudo tcptrace doctor says which side closes first, and if ports run out` },
];

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

/** One table of the states, or several of fewer columns each, so that each fits `width` (0: one). */
function stateTable(counts: number[], width: number): string[] {
  const columns: Column<number>[] = OPEN_STATES.map((state) => ({
    header: stateHeader(state),
    value: (row: number) => thousands(counts[state] ?? 0),
    align: 'right' as const,
  }));
  const tables: string[][] = [];
  let taken: Column<number>[] = [];
  for (const column of columns) {
    const wider = renderTable([...taken, column], [0], '  ');
    if (width > 0 && taken.length && wider[0].length > width) {
      tables.push(renderTable(taken, [0], '  '));
      taken = [column];
    } else taken.push(column);
  }
  tables.push(renderTable(taken, [0], '  '));
  return tables.flat();
}

/** One row per namespace with sockets: the states any of them has, and its total. */
function namespaceTable(namespaces: NamespaceCounts[], topN: number): string[] {
  const rows = busiestFirst(namespaces);
  const states = OPEN_STATES.filter((state) => rows.some((r) => r.counts[state]));
  const shown = rows.slice(0, topN);
  const more = rows.length > topN ? [`  ... ${thousands(rows.length - topN)} more`] : [];
  return [...renderTable<NamespaceCounts>([
    { header: 'NETNS', value: (r) => `net:[${r.netns}]` },
    { header: 'NAME', value: (r) => netnsLabel(r.holder) ?? (r.own ? "(tcptrace's own)" : '-') },
    ...states.map((state) => ({ header: stateHeader(state), value: (r: NamespaceCounts) => thousands(r.counts[state] ?? 0), align: 'right' as const })),
    { header: 'SOCKETS', value: (r) => thousands(socketsIn(r.counts)), align: 'right' },
  ], shown, '  '), ...more];
}

/** Said once the other namespaces' counts are 2 s old or more: counting many of them is spread out. */
function staleness(v: LiveViewInput): string {
  const age = v.othersCountedSecondsAgo ?? 0;
  return v.namespaces.some((n) => !n.own) && age >= 2 ? `; the others as counted ${Math.floor(age)}s ago` : '';
}

/** A namespace table is worth its rows when the sockets are not all in tcptrace's own namespace. */
function namespacesWorthShowing(namespaces: NamespaceCounts[]): boolean {
  const withSockets = busiestFirst(namespaces);
  return withSockets.length > 1 || (withSockets.length === 1 && !withSockets[0].own);
}

function stateHeader(state: number): string {
  return state === TCP.NEW_SYN_RECV ? 'SYN_RECV(req)' : stateName(state);
}

function nextCommands(counts: number[], dropping: DroppingListener[]): { line: string; hue: Hue | undefined }[] {
  const hints = NEXT_COMMANDS.filter((n) => (counts[n.state] ?? 0) >= n.atLeast)
    .map((n) => ({ line: `=> ${n.say(thousands(counts[n.state]))}`, hue: STATE_HUE[stateName(n.state)] }));
  const dropped = dropping.reduce((sum, l) => sum + l.droppedWhileWatched, 0);
  if (dropped > 0) {
    hints.push({
      line: `=> ${thousands(dropped)} connection(s) dropped by full accept queues: sudo tcptrace doctor says whether listen()'s backlog or somaxconn is the limit`,
      hue: 'red',
    });
  }
  return hints;
}

/** The listeners that dropped while watched: who listens, how full its queue is, how many it dropped. */
function droppingTable(dropping: DroppingListener[], topN: number): string[] {
  return [...renderTable<DroppingListener>([
    { header: 'LISTENER DROPPING', value: (l) => l.listener },
    { header: 'PROCESS', value: (l) => (l.owner ? `${l.owner.pid} ${l.owner.comm}` : '-') },
    { header: 'QUEUE', value: (l) => `${thousands(l.acceptQueue)}/${thousands(l.acceptQueueLimit)}`, align: 'right' },
    { header: 'LAST', value: (l) => thousands(l.droppedLastRefresh), align: 'right' },
    { header: 'DROPPED', value: (l) => thousands(l.droppedWhileWatched), align: 'right' },
  ], dropping.slice(0, topN), '  '), ...(dropping.length > topN ? [`  ... ${thousands(dropping.length - topN)} more`] : [])];
}

/** The tables below the states, least needed first to go when the screen is short. */
type Section = 'namespaces' | 'dropping' | 'distributions' | 'transitions' | 'processes' | 'peers';
const SECTION_ORDER: Section[] = ['namespaces', 'dropping', 'distributions', 'transitions', 'processes', 'peers'];
const DROPPED_FIRST: Section[] = ['distributions', 'peers', 'transitions', 'namespaces', 'processes', 'dropping'];

function section(v: LiveViewInput, which: Section, topN: number): string[] {
  const { stats } = v;
  switch (which) {
    case 'namespaces': return namespaceTable(v.namespaces, topN);
    case 'dropping': return droppingTable(v.dropping, topN);
    case 'distributions': return latencyTable(v.latencies);
    case 'transitions': return rankedTable('TRANSITION', stats.transitions.top(topN, v.intervalSeconds));
    case 'processes': return rankedTable('PROCESS', stats.processes.top(topN, v.intervalSeconds), 'CONTAINER');
    default: return rankedTable('PEER', stats.peers.top(topN, v.intervalSeconds));
  }
}

/** The tables that fit `rows` lines (each after a blank one): as many rows each as fit, then fewer tables. */
function fittedSections(v: LiveViewInput, rows: number | undefined): string[] {
  const worthShowing: Partial<Record<Section, boolean>> = { namespaces: namespacesWorthShowing(v.namespaces), dropping: v.dropping.length > 0 };
  let shown = SECTION_ORDER.filter((which) => worthShowing[which] ?? true);
  for (;;) {
    for (let topN = v.topN; topN >= 1; topN--) {
      const lines = shown.flatMap((which) => ['', ...section(v, which, topN)]);
      if (rows === undefined || lines.length <= rows) return lines;
    }
    const drop = DROPPED_FIRST.find((which) => shown.includes(which));
    if (!drop || shown.length === 1) return [];
    shown = shown.filter((which) => which !== drop);
  }
}

export function renderLiveView(v: LiveViewInput): string {
  const { stats, counters } = v;
  const paint = v.paint ?? PLAIN;
  const columns = v.screen?.columns ?? 0;
  const rate = stats.lastIntervalTotal / v.intervalSeconds;
  const lost = counters.lostEvents ? `LOST ${thousands(counters.lostEvents)}` : 'lost 0';
  const counts = totalCounts(v.namespaces);
  const top = [
    `tcptrace live  ${v.now}  up ${Math.floor(v.elapsedSeconds)}s  transitions ${thousands(stats.total)} (${thousands(rate)}/s)  ${lost}` +
      (counters.untrackedSockets ? `  untracked sockets ${thousands(counters.untrackedSockets)}` : '') +
      (v.connectionsDropped ? `  connections dropped ${thousands(v.connectionsDropped)}` : '') +
      (v.filters ? `  filters: ${v.filters}` : ''),
    '',
    `Sockets by state (now, ${thousands(v.namespaces.length)} network namespace${v.namespaces.length === 1 ? '' : 's'}: ${v.countedWhere}` +
      `${staleness(v)}; TIME_WAIT has no owner)`,
    ...stateTable(counts, columns),
  ].map((l) => clip(l, columns));
  const hints = nextCommands(counts, v.dropping).map(({ line, hue }) => paint(hue, clip(line, columns)));
  const next = hints.length ? ['', ...hints] : [];
  const bottom = ['', 'Ctrl-C to stop'];
  const rows = v.screen ? v.screen.rows - top.length - next.length - bottom.length : undefined;
  const lines = [...top, ...next, ...fittedSections(v, rows).map((l) => clip(l, columns)), ...bottom];
  return lines.join('\n');
}
