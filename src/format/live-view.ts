/** The terminal view of `tcptrace live`, redrawn every second. */
import { LiveStats, Ranked } from '../live-stats';
import { TracerCounters } from '../native';
import { stateName, TCP } from '../states';
import { Column, renderTable, thousands } from './table';

export interface LiveViewInput {
  now: string;
  elapsedSeconds: number;
  intervalSeconds: number;
  stateCounts: number[];
  stats: LiveStats;
  counters: TracerCounters;
  filters: string;
  topN: number;
}

const STATE_ORDER = [
  TCP.ESTABLISHED, TCP.SYN_SENT, TCP.SYN_RECV, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.TIME_WAIT,
  TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSING, TCP.LISTEN, TCP.NEW_SYN_RECV,
];

function rankedTable(title: string, rows: Ranked[]): string[] {
  const columns: Column<Ranked>[] = [
    { header: title, value: (r) => r.label },
    { header: 'PER SEC', value: (r) => thousands(r.perSecond), align: 'right' },
    { header: 'TOTAL', value: (r) => thousands(r.total), align: 'right' },
  ];
  return rows.length ? renderTable(columns, rows, '  ') : [`  ${title}`, '  (none yet)'];
}

function stateTable(counts: number[]): string[] {
  const columns: Column<number>[] = STATE_ORDER.map((state) => ({
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
      (v.filters ? `  filters: ${v.filters}` : ''),
    '',
    'Sockets by state (now, this network namespace; TIME_WAIT has no owner)',
    ...stateTable(v.stateCounts),
    '',
    ...rankedTable('TRANSITION', stats.transitions.top(v.topN, v.intervalSeconds)),
    '',
    ...rankedTable('PROCESS', stats.processes.top(v.topN, v.intervalSeconds)),
    '',
    ...rankedTable('PEER', stats.peers.top(v.topN, v.intervalSeconds)),
    '',
    'Ctrl-C to stop',
  ];
  return lines.join('\n');
}
