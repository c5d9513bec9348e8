/**
 * CLOSE_WAIT culprits: which process holds which sockets the peer has closed,
 * since when, to which peers, and what the measurements say about why.
 *
 * The holder is whoever has the fd at report time (fds move: dup, fork,
 * SCM_RIGHTS); the process that connected or accepted the socket is shown
 * beside it when it differs.
 */
import { formatSeconds, thousands } from '../units';
import { CgroupNames } from '../host/cgroups';
import { shortContainerId } from '../host/containers';
import { Endpoints, Snapshot, SnapshotSocket, TransitionEvent } from '../kernel/decoder';
import { formatEndpoint } from '../kernel/addr';
import { TCP } from '../kernel/states';
import { PortRange } from '../host/settings';
import { Side, SideClassifier } from './snapshot-report';
import { ConnectionTracker } from './tracker';

export interface CloseWaitEntry {
  enteredNs: number;
  /** From the owner's last send/recv to the peer's FIN; null if no I/O was seen. */
  idleBeforeFinNs: number | null;
  /** Who connected or accepted it, where the kernel side kept it (else the tracker knows). */
  openedBy?: { pid: number; comm: string | null } | null;
}

/** When each socket entered CLOSE_WAIT during the trace, and how idle it was. */
export class CloseWaitLog {
  private readonly entries = new Map<number, CloseWaitEntry>();

  /** The same from what the kernel side kept of each socket now in CLOSE_WAIT: no events needed. */
  static fromSnapshot(sockets: SnapshotSocket[]): CloseWaitLog {
    const log = new CloseWaitLog();
    for (const s of sockets) {
      const facts = s.closeWait;
      if (facts?.sinceNs != null) log.entries.set(s.sockId, { enteredNs: facts.sinceNs, idleBeforeFinNs: facts.idleBeforeFinNs, openedBy: facts.openedBy });
    }
    return log;
  }

  apply(events: TransitionEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'transition') continue;
      if (e.newstate === TCP.CLOSE_WAIT) this.entries.set(e.sockId, { enteredNs: e.tsNs, idleBeforeFinNs: e.idleNs });
      else if (e.oldstate === TCP.CLOSE_WAIT || e.newstate === TCP.CLOSE) this.entries.delete(e.sockId);
    }
  }

  get(sockId: number): CloseWaitEntry | undefined {
    return this.entries.get(sockId);
  }
}

export interface CulpritSocket {
  /** The lowest fd it is held on; fds lists them all (dup, dup2). */
  fd: number;
  fds: number[];
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  ageMs: number;
  /** In CLOSE_WAIT before tracing began (or its entry was not seen): at least this old. */
  ageIsLowerBound: boolean;
  idleBeforeFinMs: number | null;
  openedBy: { pid: number; comm: string | null } | null;
  /** Which end is the service: this host's (server) or the peer's (client). */
  side: Side;
  /** Its network namespace (inode). */
  netns: number;
}

/**
 * The sockets of one holder towards one service and one remote host: how an
 * operator names a leak. The service is the end that stays the same: this
 * host's listening address and port (server side: the peers' ports are
 * ephemeral, one per connection), or the destination it connected to
 * (client side). The port of the other end is left out.
 */
export interface CulpritGroup {
  side: Side;
  saddr: string;
  /** The local service port on the server side; null on the client side. */
  sport: number | null;
  daddr: string;
  /** The destination port on the client side; null on the server side. */
  dport: number | null;
  count: number;
  oldestAgeMs: number;
  medianAgeMs: number;
  ageIsLowerBound: boolean;
  /** Median idle time before the peer's FIN, over the sockets where it was measured. */
  idleBeforeFinMs: number | null;
}

export interface Culprit {
  pid: number;
  comm: string;
  cmdline: string;
  /** The holder's cgroup (path under the cgroup2 mount) and container (12 hex), where known. */
  cgroup: string | null;
  container: string | null;
  count: number;
  oldestAgeMs: number;
  medianAgeMs: number;
  ageIsLowerBound: boolean;
  /** Every socket, oldest first (the text shows the first --top). */
  sockets: CulpritSocket[];
  /** Per service and remote host, the most sockets first. */
  groups: CulpritGroup[];
  advice: string[];
  /** The network namespaces its sockets are in (inodes; nearly always one). */
  netns: number[];
}

export interface CulpritReport {
  culprits: Culprit[];
  /** Distinct CLOSE_WAIT sockets held (one shared after fork counts once). */
  sockets: number;
  /** CLOSE_WAIT sockets no process holds any more (being torn down). */
  orphans: number;
  observedMs: number;
  /** The network namespaces the snapshot covers (absent: one), and the one tcptrace ran in where known:
   *  a culprit says which it is in when there are several, or when it is not tcptrace's. */
  namespaces?: number;
  ownNetns?: number | null;
  /** What names the culprits' namespaces, where something does ("pod web-1", an ip netns name), by inode. */
  netnsNames?: Record<number, string>;
}

export interface ReportInput extends CulpritFilter {
  snapshot: Snapshot;
  log: CloseWaitLog;
  tracker: ConnectionTracker;
  nowNs: number;
  startedNs: number;
  minAgeMs?: number;
  sortBy?: CulpritSort;
  cmdlineOf(pid: number, comm: string): string;
  /** Names the holders' cgroups: the host's live, a recording's table from a file. */
  cgroups: CgroupNames;
  /** Where connect() picks local ports: tells a client end from a server end when nothing else does. */
  ephemeral?: PortRange;
  ownNetns?: number | null;
  /** Names a namespace (live: NetnsDirectory.names); absent, none is named. */
  netnsName?: (inode: number) => string | null;
}

/** Linux's default net.ipv4.ip_local_port_range. */
const DEFAULT_EPHEMERAL: PortRange = { low: 32768, high: 60999 };

const round1 = (x: number) => Math.round(x * 10) / 10;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A CLOSE_WAIT socket and, per process holding it, the fds it is held on. */
export interface CloseWaitHolding {
  socket: SnapshotSocket;
  holders: Map<number, { comm: string; fds: number[] }>;
  /** Which end of it is the service. */
  side: Side;
}

/** Which CLOSE_WAIT sockets and holders a report is about; empty or absent lists keep all. */
export interface CulpritFilter {
  /** Holders with these pids. */
  pids?: number[];
  /** Holders whose comm contains one of these (as opensnoop -n matches). */
  comms?: string[];
  /** Sockets with one of these ports at either end. */
  ports?: number[];
}

function keepsHolder(filter: CulpritFilter, f: { pid: number; comm: string }): boolean {
  if (filter.pids?.length && !filter.pids.includes(f.pid)) return false;
  return !filter.comms?.length || filter.comms.some((c) => f.comm.includes(c));
}

function keepsSocket(filter: CulpritFilter, s: SnapshotSocket): boolean {
  return !filter.ports?.length || filter.ports.includes(s.sport) || filter.ports.includes(s.dport);
}

/**
 * Who holds each CLOSE_WAIT socket of a snapshot (only the holders and
 * sockets the filter keeps). Sockets that no process holds at all are counted
 * as orphans (being torn down).
 */
export function closeWaitHoldings(
  snapshot: Snapshot, filter: CulpritFilter = {}, ephemeral: PortRange = DEFAULT_EPHEMERAL,
): { held: CloseWaitHolding[]; orphans: number } {
  // Only the files of CLOSE_WAIT sockets are grouped: a host may hold 100,000 others.
  const files = new Map<string, { pid: number; fd: number; comm: string }[]>();
  for (const s of snapshot.sockets) if (s.state === TCP.CLOSE_WAIT && keepsSocket(filter, s)) files.set(s.skaddr, []);
  for (const f of snapshot.files) files.get(f.skaddr)?.push(f);
  const held: CloseWaitHolding[] = [];
  const sides = new SideClassifier(snapshot.sockets, ephemeral);
  let orphans = 0;
  for (const socket of snapshot.sockets) {
    const holding = socket.state === TCP.CLOSE_WAIT ? files.get(socket.skaddr) : undefined;
    if (!holding) continue;
    if (holding.length === 0) orphans++;
    else held.push({ socket, holders: fdsPerHolder(holding, filter), side: sides.sideOf(socket) });
  }
  return { held, orphans };
}

export function buildCulpritReport(input: ReportInput): CulpritReport {
  const { snapshot, log, tracker, nowNs, startedNs } = input;
  const observedMs = (nowNs - startedNs) / 1e6;
  const openers = new Map([...tracker.connections()].map((c) => [c.sockId, c.openedBy]));
  const byPid = new Map<number, { comm: string; sockets: CulpritSocket[] }>();
  const cmdlines = new Map(snapshot.files.filter((f) => f.cmdline).map((f) => [f.pid, f.cmdline!]));
  const { held: holdings, orphans } = closeWaitHoldings(snapshot, input, input.ephemeral);
  let held = 0;
  for (const { socket: s, holders, side } of holdings) {
    const entry = log.get(s.sockId);
    const ageMs = entry ? (nowNs - entry.enteredNs) / 1e6 : observedMs;
    // A lower-bound age cannot show the socket is younger than --min-age: keep it.
    if (entry && ageMs < (input.minAgeMs ?? 0)) continue;
    if (holders.size) held++;
    for (const [pid, { comm, fds }] of holders) {
      if (!byPid.has(pid)) byPid.set(pid, { comm, sockets: [] });
      byPid.get(pid)!.sockets.push({
        fd: fds[0], fds, saddr: s.saddr, sport: s.sport, daddr: s.daddr, dport: s.dport,
        ageMs: round1(ageMs), ageIsLowerBound: !entry,
        idleBeforeFinMs: entry?.idleBeforeFinNs != null ? round1(entry.idleBeforeFinNs / 1e6) : null,
        openedBy: entry?.openedBy ?? openers.get(s.sockId) ?? s.closeWait?.openedBy ?? null,
        side, netns: s.netns,
      });
    }
  }

  // The snapshot's own command line when it has one (a recording keeps it).
  const cmdline = (pid: number, comm: string) => cmdlines.get(pid) ?? input.cmdlineOf(pid, comm);
  const cgroupIds = new Map(snapshot.files.map((f) => [f.pid, f.cgroupId]));
  const culprits = [...byPid.entries()].map(([pid, { comm, sockets }]) => {
    const cgroupId = cgroupIds.get(pid) ?? null;
    const owner: Holder = {
      pid, comm, cmdline: cmdline(pid, comm),
      cgroup: input.cgroups.pathOf(cgroupId, pid),
      container: shortContainerId(input.cgroups.containerOf(cgroupId, pid)),
    };
    const netns = [...new Set(sockets.map((s) => s.netns))].sort((a, b) => a - b);
    return culpritOf(owner, netns, sockets, observedMs, input.sortBy ?? 'count');
  });
  culprits.sort(CULPRIT_ORDER[input.sortBy ?? 'count']);
  const namespaces = new Set(snapshot.sockets.map((s) => s.netns)).size;
  const netnsNames = namesOf(culprits.flatMap((c) => c.netns), input.netnsName);
  return {
    culprits, sockets: held, orphans, observedMs: Math.round(observedMs), namespaces, ownNetns: input.ownNetns ?? null,
    ...(netnsNames ? { netnsNames } : {}),
  };
}

function namesOf(inodes: number[], nameOf: ((inode: number) => string | null) | undefined): Record<number, string> | undefined {
  if (!nameOf || inodes.length === 0) return undefined;
  const names: Record<number, string> = {};
  for (const inode of new Set(inodes)) {
    const name = nameOf(inode);
    if (name) names[inode] = name;
  }
  return Object.keys(names).length ? names : undefined;
}

/** The fds each process holds one socket on (several after dup), sorted. */
function fdsPerHolder(files: { pid: number; fd: number; comm: string }[], filter: CulpritFilter) {
  const out = new Map<number, { comm: string; fds: number[] }>();
  for (const f of files) {
    if (!keepsHolder(filter, f)) continue;
    if (!out.has(f.pid)) out.set(f.pid, { comm: f.comm, fds: [] });
    out.get(f.pid)!.fds.push(f.fd);
  }
  for (const v of out.values()) v.fds.sort((a, b) => a - b);
  return out;
}

type Holder = Pick<Culprit, 'pid' | 'comm' | 'cmdline' | 'cgroup' | 'container'>;

/** Most sockets first, or the oldest first; then the other, then the lowest pid. */
export type CulpritSort = 'count' | 'age';

type Ranked = { count: number; oldestAgeMs: number };
const BY: Record<CulpritSort, (a: Ranked, b: Ranked) => number> = {
  count: (a, b) => b.count - a.count || b.oldestAgeMs - a.oldestAgeMs,
  age: (a, b) => b.oldestAgeMs - a.oldestAgeMs || b.count - a.count,
};
const CULPRIT_ORDER: Record<CulpritSort, (a: Culprit, b: Culprit) => number> = {
  count: (a, b) => BY.count(a, b) || a.pid - b.pid,
  age: (a, b) => BY.age(a, b) || a.pid - b.pid,
};

function culpritOf(holder: Holder, netns: Culprit['netns'], sockets: CulpritSocket[], observedMs: number, sortBy: CulpritSort): Culprit {
  sockets.sort((a, b) => b.ageMs - a.ageMs || a.fd - b.fd);
  const culprit: Culprit = {
    ...holder, ...ageSummary(sockets), sockets, groups: groupsOf(sockets).sort(BY[sortBy]), advice: [], netns,
  };
  culprit.advice = adviceFor(culprit, observedMs);
  return culprit;
}

function ageSummary(sockets: CulpritSocket[]) {
  const ages = sockets.map((s) => s.ageMs);
  return {
    count: sockets.length, oldestAgeMs: Math.max(...ages), medianAgeMs: round1(median(ages)),
    ageIsLowerBound: sockets.some((s) => s.ageIsLowerBound),
  };
}

const measuredIdles = (sockets: CulpritSocket[]) => sockets.map((s) => s.idleBeforeFinMs).filter((x): x is number => x !== null);

/** The service end of a socket keeps its port; the other end is its host alone. */
function groupKey(s: CulpritSocket): Pick<CulpritGroup, 'side' | 'saddr' | 'sport' | 'daddr' | 'dport'> {
  const server = s.side === 'server';
  return { side: s.side, saddr: s.saddr, sport: server ? s.sport : null, daddr: s.daddr, dport: server ? null : s.dport };
}

/** A group, or a service, as one line: "127.0.0.1:8080 <- 10.0.0.7", "10.0.0.1 -> 10.0.0.50:443". */
export function groupName(g: Pick<CulpritGroup, 'side' | 'saddr' | 'sport' | 'daddr' | 'dport'>): string {
  return g.side === 'server'
    ? `${formatEndpoint(g.saddr, g.sport!)} <- ${g.daddr}`
    : `${g.saddr} -> ${formatEndpoint(g.daddr, g.dport!)}`;
}

export function groupsOf(sockets: CulpritSocket[]): CulpritGroup[] {
  const groups = new Map<string, CulpritSocket[]>();
  for (const s of sockets) {
    const key = groupName(groupKey(s));
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(s);
  }
  return [...groups.values()]
    .map((group) => {
      const idles = measuredIdles(group);
      return { ...groupKey(group[0]), ...ageSummary(group), idleBeforeFinMs: idles.length ? round1(median(idles)) : null };
    })
    .sort((a, b) => b.count - a.count || b.oldestAgeMs - a.oldestAgeMs);
}

/** The service end of a socket: this host's listening address and port, or the destination. */
export function serviceEndpoint(s: Pick<Endpoints, 'saddr' | 'sport' | 'daddr' | 'dport'>, side: Side): string {
  return side === 'server' ? formatEndpoint(s.saddr, s.sport) : formatEndpoint(s.daddr, s.dport);
}

/** The service a socket belongs to, whatever the remote host: what advice is given per. */
function serviceOf(s: CulpritSocket): { key: string; name: string; side: Side } {
  const name = serviceEndpoint(s, s.side);
  return { key: `${s.side} ${name}`, name, side: s.side };
}

/** Peer FINs that come this soon after the last exchange are not an idle timeout. */
const PROMPT_FIN_MS = 1000;

/**
 * What the measurements support, and nothing more. No sysctl is offered: no
 * kernel setting frees CLOSE_WAIT sockets promptly; the cure is in the program.
 */
export function adviceFor(c: Culprit, observedMs: number): string[] {
  const advice: string[] = [];
  const services = new Map<string, CulpritSocket[]>();
  for (const s of c.sockets) {
    const { key } = serviceOf(s);
    if (!services.has(key)) services.set(key, []);
    services.get(key)!.push(s);
  }
  // Most sockets first: the advice follows the order of the groups.
  const ranked = [...services.values()].sort((a, b) => b.length - a.length);
  for (const sockets of ranked) {
    const line = serviceAdvice(sockets);
    if (line) advice.push(line);
  }
  const unmeasured = c.sockets.filter((s) => s.idleBeforeFinMs === null);
  if (unmeasured.length) {
    const before = unmeasured.filter((s) => s.ageIsLowerBound).length;
    advice.push(`${thousands(unmeasured.length)} socket(s) have no idle time measured` +
      (before ? ` (${thousands(before)} were in CLOSE_WAIT before tracing began, for at least ${formatSeconds(observedMs)})` : '') +
      ': trace from before they are closed by the peer to see why');
  }
  return advice;
}

/** One line per service, from the idle times measured on its sockets; none without a measurement. */
function serviceAdvice(sockets: CulpritSocket[]): string | null {
  const idles = measuredIdles(sockets);
  if (!idles.length) return null;
  const { name, side } = serviceOf(sockets[0]);
  const typical = round1(median(idles));
  const low = Math.min(...idles), high = Math.max(...idles);
  const spread = idles.length > 1 && high - low > 0.2 * typical
    ? ` (measured ${formatSeconds(low)} to ${formatSeconds(high)} over ${idles.length} sockets)` : '';
  const t = formatSeconds(typical);
  const hosts = new Set(sockets.map((s) => s.daddr)).size;
  const peers = side === 'server' ? `clients of ${name} (${hosts} host(s))` : `peer ${name}`;
  if (typical < PROMPT_FIN_MS) {
    return `${peers} closed ${thousands(idles.length)} connection(s) within ${t} of the last exchange, and this process never ` +
      'closed its side: look for an error or early-return path that skips close()';
  }
  return side === 'server'
    ? `${peers} close idle connections after ~${t}${spread}; this process keeps them open after their FIN: ` +
      `close() a connection once a read returns end-of-file, or close idle connections itself before ${t}`
    : `${peers} closes idle connections after ~${t}${spread}; this process keeps them idle longer ` +
      `and never reads the FIN: evict idle connections before ${t} (a pool idle timeout below the peer's keep-alive timeout)`;
}
