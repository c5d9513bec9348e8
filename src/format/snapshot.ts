/** Text and JSON of `tcptrace snapshot`. */
import { formatEndpoint } from '../kernel/addr';
import {
  Counted, DestinationUse, endpointText, NamespaceRow, NoOwnerKind, NoOwnerRow, PeerRow, PortRow, ProcessRow,
  SnapshotReport, TimewaitGroup,
} from '../model/snapshot-report';
import { SS_STATES, stateName } from '../kernel/states';
import { percent, thousands } from '../units';
import { Column, renderTable } from './table';

export type Breakdown = 'state' | 'pid' | 'peer' | 'port';

export interface SnapshotView {
  report: SnapshotReport;
  /** The host's other network namespaces, counted (a snapshot of every one). */
  others?: NamespaceRow[];
  takenAt: Date;
  elapsedMs: number;
  /** Only this breakdown (in full); every section, each cut to `top` rows, if unset. */
  by?: Breakdown;
  top: number;
  /** The filter, as words ("state CLOSE_WAIT, port 8080"); null: every socket. */
  filter?: string | null;
  /** Sockets before the filter. */
  unfilteredSockets?: number;
}

export function netnsText(netns: number | null): string {
  return netns === null ? 'network namespace (unknown)' : `network namespace net:[${netns}]`;
}

function header(v: SnapshotView): string {
  const r = v.report;
  const matching = v.filter ? ` (of ${thousands(v.unfilteredSockets ?? r.sockets)}) matching ${v.filter}` : '';
  return `tcptrace snapshot ${v.takenAt.toISOString()}: ${thousands(r.sockets)} TCP sockets${matching} in ${netnsText(r.netns)} ` +
    `(tcptrace's own), read in ${thousands(v.elapsedMs)} ms`;
}

function stateSection(r: SnapshotReport): string[] {
  const columns: Column<SnapshotReport>[] = SS_STATES.map((s) => ({
    header: stateName(s), value: (row) => thousands(row.states[stateName(s)] ?? 0), align: 'right' as const,
  }));
  const timewaitOrphans = r.timewaitSockets - (r.states.TIME_WAIT ?? 0);
  return [
    'Sockets by state, as ss -tan counts them',
    ...renderTable(columns, [r], '  '),
    `  SYN_RECV includes ${thousands(r.requestSockets)} request socket(s) (handshakes in progress); ` +
      `FIN_WAIT2 includes ${thousands(timewaitOrphans)} closed by their program (timewait sockets, like TIME_WAIT: no owner)`,
  ];
}

/** The states that occur in these rows, in ss's order: one column each. */
function stateColumns<Row extends Counted>(rows: Row[]): Column<Row>[] {
  return SS_STATES.map(stateName)
    .filter((name) => rows.some((r) => r.states[name]))
    .map((name) => ({ header: name, value: (r: Row) => thousands(r.states[name] ?? 0), align: 'right' as const }));
}

const socketsColumn = <Row extends Counted>(): Column<Row> => ({ header: 'SOCKETS', value: (r) => thousands(r.sockets), align: 'right' });

function cut<Row>(rows: Row[], top: number | undefined): { shown: Row[]; more: string[] } {
  if (top === undefined || rows.length <= top) return { shown: rows, more: [] };
  return { shown: rows.slice(0, top), more: [`  ... ${thousands(rows.length - top)} more`] };
}

const NO_OWNER_LABEL: Record<NoOwnerKind, string> = {
  timewait: '(no process: timewait sockets, kept by the kernel)',
  request: '(no process: request sockets, handshake in progress)',
  queued: '(no process yet: waiting in an accept queue)',
  unheld: '(no process: closed by their program, or held outside this PID namespace)',
};

/** One line of at most `width` characters (a command line may hold newlines). */
function clip(text: string, width: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length <= width ? line : `${line.slice(0, width - 3)}...`;
}

type ProcessLine = { pid: string; command: string } & Counted;

function processSection(r: SnapshotReport, top: number | undefined): string[] {
  const { shown, more } = cut(r.byProcess, top);
  const rows: ProcessLine[] = [
    ...shown.map((p: ProcessRow) => ({ pid: String(p.pid), command: clip(p.cmdline, 64), sockets: p.sockets, states: p.states })),
    ...r.noOwner.map((n: NoOwnerRow) => ({ pid: '-', command: NO_OWNER_LABEL[n.kind], sockets: n.sockets, states: n.states })),
  ];
  return [
    'By owning process (a socket shared after fork counts for each holder)',
    ...renderTable<ProcessLine>([
      { header: 'PID', value: (p) => p.pid, align: 'right' },
      { header: 'COMMAND', value: (p) => p.command },
      socketsColumn(),
      ...stateColumns(rows),
    ], rows, '  '),
    ...more,
  ];
}

function peerSection(r: SnapshotReport, top: number | undefined): string[] {
  const { shown, more } = cut(r.byPeer, top);
  return [
    'By remote peer (listening sockets left out)',
    ...renderTable<PeerRow>([{ header: 'PEER', value: (p) => p.addr }, socketsColumn(), ...stateColumns(shown)], shown, '  '),
    ...more,
  ];
}

function portSection(r: SnapshotReport, top: number | undefined): string[] {
  const { shown, more } = cut(r.byPort, top);
  const queues = new Map(r.listeners.map((l) => [l.sport, l]));
  const range = `ephemeral ${r.ephemeral.low}-${r.ephemeral.high} (client sockets)`;
  return [
    'By local port',
    ...renderTable<PortRow>([
      { header: 'PORT', value: (p) => (p.port === null ? range : String(p.port)) },
      { header: 'ACCEPT QUEUE', value: (p) => acceptQueueText(p.port === null ? undefined : queues.get(p.port)), align: 'right' },
      socketsColumn(),
      ...stateColumns(shown),
    ], shown, '  '),
    ...more,
  ];
}

function acceptQueueText(listener: { acceptQueue: number; acceptQueueLimit: number } | undefined): string {
  return listener ? `${thousands(listener.acceptQueue)}/${thousands(listener.acceptQueueLimit)}` : '';
}

function ephemeralSection(r: SnapshotReport, top: number | undefined): string[] {
  const e = r.ephemeral;
  const head = `Ephemeral ports ${e.low}-${e.high}: ${thousands(e.usable)} usable, ${thousands(e.portsInUse)} in use by client sockets; ` +
    'each local address and destination pair has the whole range';
  if (e.destinations.length === 0) return [head, '  (no client sockets on ephemeral ports)'];
  const { shown, more } = cut(e.destinations, top);
  return [
    head,
    ...renderTable<DestinationUse>([
      { header: 'LOCAL ADDR', value: (d) => d.saddr },
      { header: 'DESTINATION', value: (d) => formatEndpoint(d.daddr, d.dport) },
      { header: 'PORTS', value: (d) => thousands(d.ports), align: 'right' },
      { header: 'IN TIME_WAIT', value: (d) => thousands(d.timeWait), align: 'right' },
      { header: 'OF RANGE', value: (d) => percent(d.share), align: 'right' },
    ], shown, '  '),
    ...more,
  ];
}

function timewaitSection(r: SnapshotReport, top: number | undefined): string[] {
  const head = 'Timewait sockets by endpoint (no process owns them; the side that closed first keeps them)';
  if (r.timewait.length === 0) return [head, '  (none)'];
  const { shown, more } = cut(r.timewait, top);
  return [
    head,
    ...renderTable<TimewaitGroup>([
      { header: 'SIDE', value: (g) => g.side },
      { header: 'LOCAL', value: (g) => endpointText(g.saddr, g.sport) },
      { header: 'REMOTE', value: (g) => endpointText(g.daddr, g.dport) },
      { header: 'STATE', value: (g) => g.state },
      { header: 'SOCKETS', value: (g) => thousands(g.count), align: 'right' },
    ], shown, '  '),
    ...more,
  ];
}

/** The other namespaces, one row each: what a pod or a container holds, by state. */
function namespaceSection(rows: NamespaceRow[], top: number | undefined): string[] {
  const { shown, more } = cut(rows, top);
  return [
    `Other network namespaces: ${thousands(rows.length)}, ${thousands(rows.reduce((sum, r) => sum + r.sockets, 0))} socket(s)`,
    ...renderTable<NamespaceRow>([
      { header: 'NETNS', value: (r) => `net:[${r.netns}]` },
      { header: 'NAME', value: (r) => r.name ?? '-' },
      ...stateColumns(rows),
      socketsColumn(),
      { header: 'HELD BY', value: (r) => r.holders.slice(0, 3).join(',') || '-' },
    ], shown, '  '),
    ...more,
  ];
}

export function renderSnapshot(v: SnapshotView): string[] {
  const r = v.report;
  const sections: string[][] = [[header(v)], stateSection(r)];
  if (v.others?.length && (v.by === undefined || v.by === 'state')) sections.push(namespaceSection(v.others, v.top));
  if (v.by === 'pid') sections.push(processSection(r, undefined));
  else if (v.by === 'peer') sections.push(peerSection(r, undefined));
  else if (v.by === 'port') sections.push(portSection(r, undefined));
  else if (v.by === undefined) {
    sections.push(ephemeralSection(r, v.top), timewaitSection(r, v.top), processSection(r, v.top),
      peerSection(r, v.top), portSection(r, v.top));
  }
  return sections.flatMap((s, i) => (i === 0 ? s : ['', ...s]));
}

/** The report as one JSON object: everything, or the chosen breakdown. */
export function snapshotJson(v: SnapshotView): Record<string, unknown> {
  const r = v.report;
  const base = {
    takenAt: v.takenAt.toISOString(), elapsedMs: Math.round(v.elapsedMs), netns: r.netns, sockets: r.sockets,
    ...(v.filter ? { filter: v.filter, unfilteredSockets: v.unfilteredSockets } : {}),
    states: r.states, requestSockets: r.requestSockets, timewaitSockets: r.timewaitSockets,
    otherNamespaces: v.others ?? [],
  };
  switch (v.by) {
    case 'state': return base;
    case 'pid': return { ...base, byProcess: r.byProcess, noOwner: r.noOwner };
    case 'peer': return { ...base, byPeer: r.byPeer };
    case 'port': return { ...base, byPort: r.byPort, listeners: r.listeners };
    default: return { ...base, ...r };
  }
}
