/** Text of `tcptrace culprits`: one block per process, worst first. */
import { formatEndpoint } from '../kernel/addr';
import { Culprit, CulpritReport, CulpritSocket } from '../model/culprits';
import { formatSeconds } from '../units';
import { Column, renderTable } from './table';

const age = (ms: number, lowerBound: boolean) => `${lowerBound ? '>=' : ''}${formatSeconds(ms)}`;

const socketColumns = (holder: number): Column<CulpritSocket>[] => [
  { header: 'FD', value: (s) => s.fds.join(','), align: 'right' },
  { header: 'LOCAL', value: (s) => formatEndpoint(s.saddr, s.sport) },
  { header: 'PEER', value: (s) => formatEndpoint(s.daddr, s.dport) },
  { header: 'IN CLOSE_WAIT', value: (s) => age(s.ageMs, s.ageIsLowerBound), align: 'right' },
  { header: 'IDLE BEFORE FIN', value: (s) => (s.idleBeforeFinMs === null ? '-' : formatSeconds(s.idleBeforeFinMs)), align: 'right' },
  // The connect()/accept() caller, when the fd has moved to another process since.
  {
    header: 'OPENED BY',
    value: (s) => (!s.openedBy ? '-' : s.openedBy.pid === holder ? 'itself' : `${s.openedBy.pid} ${s.openedBy.comm ?? ''}`.trim()),
  },
];

function culpritBlock(c: Culprit, maxSockets: number): string[] {
  const peers = c.peers.map((p) => `${formatEndpoint(p.daddr, p.dport)} x${p.count}` +
    (p.idleBeforeFinMs === null ? '' : ` (idle ~${formatSeconds(p.idleBeforeFinMs)} before FIN)`));
  const shown = c.sockets.slice(0, maxSockets);
  return [
    `PID ${c.pid}  ${c.container ? `container ${c.container}  ` : ''}${c.cmdline}`,
    `  ${c.count} socket(s) in CLOSE_WAIT, oldest ${age(c.oldestAgeMs, c.ageIsLowerBound)}, median ${formatSeconds(c.medianAgeMs)}`,
    `  peers: ${peers.join(', ')}`,
    ...renderTable(socketColumns(c.pid), shown, '  '),
    ...(c.sockets.length > shown.length ? [`  ... ${c.sockets.length - shown.length} more`] : []),
    ...c.advice.map((a) => `  => ${a}`),
    '',
  ];
}

export function renderCulprits(report: CulpritReport, maxSockets = 10): string[] {
  const head = `CLOSE_WAIT culprits after ${formatSeconds(report.observedMs)} of tracing: ` +
    `${report.sockets} socket(s) held by ${report.culprits.length} process(es), ${report.orphans} orphaned (held by no process)`;
  if (report.culprits.length === 0) return [head, '', 'No process holds a socket in CLOSE_WAIT.'];
  return [head, '', ...report.culprits.flatMap((c) => culpritBlock(c, maxSockets))];
}
