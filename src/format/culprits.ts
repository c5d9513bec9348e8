/**
 * Text of `tcptrace culprits`: one block per process, worst first; in each,
 * its sockets per service and peer host, then the oldest sockets. Every line
 * fits the terminal: a thousand sockets from three hosts are three rows.
 */
import { formatEndpoint } from '../kernel/addr';
import { Culprit, CulpritGroup, CulpritReport, CulpritSocket } from '../model/culprits';
import { clip, formatSeconds, thousands } from '../units';
import { Column, renderFittedTable, wrap } from './table';

export interface CulpritsLayout {
  /** Processes, groups per process and sockets per process shown (--top). */
  top: number;
  /** Columns of the terminal; 0: no limit. */
  width: number;
}

/** Enough to fit a leaking server on one screen; --top changes it. */
export const DEFAULT_CULPRITS_TOP = 5;

const age = (ms: number, lowerBound: boolean) => `${lowerBound ? '>=' : ''}${formatSeconds(ms)}`;
const idle = (ms: number | null) => (ms === null ? '-' : formatSeconds(ms));

const groupColumns: Column<CulpritGroup>[] = [
  { header: 'SIDE', value: (g) => g.side },
  // The service end keeps its port; the other end is its host alone.
  { header: 'LOCAL', value: (g) => (g.sport === null ? g.saddr : formatEndpoint(g.saddr, g.sport)) },
  { header: 'REMOTE', value: (g) => (g.dport === null ? g.daddr : formatEndpoint(g.daddr, g.dport)) },
  { header: 'SOCKETS', value: (g) => thousands(g.count), align: 'right' },
  { header: 'OLDEST', value: (g) => age(g.oldestAgeMs, g.ageIsLowerBound), align: 'right' },
  { header: 'MEDIAN', value: (g) => formatSeconds(g.medianAgeMs), align: 'right', optional: true },
  { header: 'IDLE BEFORE FIN', value: (g) => idle(g.idleBeforeFinMs), align: 'right' },
];

const socketColumns = (holder: number): Column<CulpritSocket>[] => [
  { header: 'FD', value: (s) => s.fds.join(','), align: 'right' },
  { header: 'LOCAL', value: (s) => formatEndpoint(s.saddr, s.sport) },
  { header: 'PEER', value: (s) => formatEndpoint(s.daddr, s.dport) },
  { header: 'IN CLOSE_WAIT', value: (s) => age(s.ageMs, s.ageIsLowerBound), align: 'right' },
  { header: 'IDLE BEFORE FIN', value: (s) => idle(s.idleBeforeFinMs), align: 'right', optional: true },
  // The connect()/accept() caller, when the fd has moved to another process since.
  {
    header: 'OPENED BY', optional: true,
    value: (s) => (!s.openedBy ? '-' : s.openedBy.pid === holder ? 'itself' : `${s.openedBy.pid} ${s.openedBy.comm ?? ''}`.trim()),
  },
];

const MORE_HINT = '--top shows more, --json lists all';

/** "net:[4026532321] pod web-1  " where the snapshot covers several namespaces, or the culprit is not in tcptrace's
 *  (as ss and lsns name them; then what names it, where something does). */
function netnsLabel(c: Culprit, report: CulpritReport): string {
  const elsewhere = report.ownNetns != null && c.netns.some((inode) => inode !== report.ownNetns);
  const named = (inode: number) => [`net:[${inode}]`, report.netnsNames?.[inode]].filter(Boolean).join(' ');
  return (report.namespaces ?? 1) > 1 || elsewhere ? c.netns.map((inode) => `${named(inode)}  `).join('') : '';
}

function culpritBlock(c: Culprit, { top, width }: CulpritsLayout, report: CulpritReport): string[] {
  const netns = netnsLabel(c, report);
  const groups = c.groups.slice(0, top);
  const sockets = c.sockets.slice(0, top);
  const moreGroups = c.groups.slice(top);
  const hiddenInGroups = moreGroups.reduce((sum, g) => sum + g.count, 0);
  return [
    clip(`PID ${c.pid}  ${netns}${c.container ? `container ${c.container}  ` : ''}${c.cmdline}`, width),
    clip(`  ${thousands(c.count)} socket(s) in CLOSE_WAIT, oldest ${age(c.oldestAgeMs, c.ageIsLowerBound)}, ` +
      `median ${formatSeconds(c.medianAgeMs)}`, width),
    ...renderFittedTable(groupColumns, groups, '  ', width),
    ...(moreGroups.length ? [clip(`  ... ${thousands(moreGroups.length)} more group(s), ${thousands(hiddenInGroups)} socket(s) (${MORE_HINT})`, width)] : []),
    ...renderFittedTable(socketColumns(c.pid), sockets, '  ', width),
    ...(c.sockets.length > sockets.length ? [clip(`  ... ${thousands(c.sockets.length - sockets.length)} more socket(s) (${MORE_HINT})`, width)] : []),
    ...c.advice.flatMap((a) => wrap(a, width, '  => ', '     ')),
    '',
  ];
}

export function renderCulprits(report: CulpritReport, layout: CulpritsLayout = { top: DEFAULT_CULPRITS_TOP, width: 0 }): string[] {
  const head = `CLOSE_WAIT culprits after ${formatSeconds(report.observedMs)} of tracing: ` +
    `${thousands(report.sockets)} socket(s) held by ${report.culprits.length} process(es), ${thousands(report.orphans)} orphaned (held by no process)`;
  const headLines = wrap(head, layout.width, '', '  ');
  if (report.culprits.length === 0) return [...headLines, '', 'No process holds a socket in CLOSE_WAIT.'];
  const shown = report.culprits.slice(0, layout.top);
  const rest = report.culprits.slice(layout.top);
  const restSockets = rest.reduce((sum, c) => sum + c.count, 0);
  return [
    ...headLines, '',
    ...shown.flatMap((c) => culpritBlock(c, layout, report)),
    ...(rest.length ? [clip(`... ${rest.length} more process(es) holding ${thousands(restSockets)} socket(s) (${MORE_HINT})`, layout.width), ''] : []),
  ];
}
