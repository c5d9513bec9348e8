/**
 * CLOSE_WAIT culprits: which process holds which sockets the peer has closed,
 * since when, to which peers, and what the measurements say about why.
 *
 * The holder is whoever has the fd at report time (fds move: dup, fork,
 * SCM_RIGHTS); the process that connected or accepted the socket is shown
 * beside it when it differs.
 */
import { formatSeconds } from '../units';
import { CgroupNames } from '../host/cgroups';
import { shortContainerId } from '../host/containers';
import { Snapshot, SnapshotSocket, TransitionEvent } from '../kernel/decoder';
import { formatEndpoint } from '../kernel/addr';
import { TCP } from '../kernel/states';
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
}

export interface CulpritPeer {
  daddr: string;
  dport: number;
  count: number;
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
  sockets: CulpritSocket[];
  peers: CulpritPeer[];
  advice: string[];
}

export interface CulpritReport {
  culprits: Culprit[];
  /** Distinct CLOSE_WAIT sockets held (one shared after fork counts once). */
  sockets: number;
  /** CLOSE_WAIT sockets no process holds any more (being torn down). */
  orphans: number;
  observedMs: number;
}

export interface ReportInput {
  snapshot: Snapshot;
  log: CloseWaitLog;
  tracker: ConnectionTracker;
  nowNs: number;
  startedNs: number;
  minAgeMs?: number;
  pids?: number[];
  cmdlineOf(pid: number, comm: string): string;
  /** Names the holders' cgroups: the host's live, a recording's table from a file. */
  cgroups: CgroupNames;
}

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
}

/**
 * Who holds each CLOSE_WAIT socket of a snapshot (only these pids, if given).
 * Sockets that no process holds at all are counted as orphans (being torn down).
 */
export function closeWaitHoldings(snapshot: Snapshot, pids?: number[]): { held: CloseWaitHolding[]; orphans: number } {
  // Only the files of CLOSE_WAIT sockets are grouped: a host may hold 100,000 others.
  const files = new Map<string, { pid: number; fd: number; comm: string }[]>();
  for (const s of snapshot.sockets) if (s.state === TCP.CLOSE_WAIT) files.set(s.skaddr, []);
  for (const f of snapshot.files) files.get(f.skaddr)?.push(f);
  const held: CloseWaitHolding[] = [];
  let orphans = 0;
  for (const socket of snapshot.sockets) {
    if (socket.state !== TCP.CLOSE_WAIT) continue;
    const holding = files.get(socket.skaddr)!;
    if (holding.length === 0) orphans++;
    else held.push({ socket, holders: fdsPerHolder(holding, pids) });
  }
  return { held, orphans };
}

export function buildCulpritReport(input: ReportInput): CulpritReport {
  const { snapshot, log, tracker, nowNs, startedNs } = input;
  const observedMs = (nowNs - startedNs) / 1e6;
  const openers = new Map([...tracker.connections()].map((c) => [c.sockId, c.openedBy]));
  const byPid = new Map<number, { comm: string; sockets: CulpritSocket[] }>();
  const cmdlines = new Map(snapshot.files.filter((f) => f.cmdline).map((f) => [f.pid, f.cmdline!]));
  const { held: holdings, orphans } = closeWaitHoldings(snapshot, input.pids);
  let held = 0;
  for (const { socket: s, holders } of holdings) {
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
    return culpritOf(owner, sockets, observedMs);
  });
  culprits.sort((a, b) => b.count - a.count || b.oldestAgeMs - a.oldestAgeMs || a.pid - b.pid);
  return { culprits, sockets: held, orphans, observedMs: Math.round(observedMs) };
}

/** The fds each process holds one socket on (several after dup), sorted. */
function fdsPerHolder(files: { pid: number; fd: number; comm: string }[], pids?: number[]) {
  const out = new Map<number, { comm: string; fds: number[] }>();
  for (const f of files) {
    if (pids?.length && !pids.includes(f.pid)) continue;
    if (!out.has(f.pid)) out.set(f.pid, { comm: f.comm, fds: [] });
    out.get(f.pid)!.fds.push(f.fd);
  }
  for (const v of out.values()) v.fds.sort((a, b) => a - b);
  return out;
}

type Holder = Pick<Culprit, 'pid' | 'comm' | 'cmdline' | 'cgroup' | 'container'>;

function culpritOf(holder: Holder, sockets: CulpritSocket[], observedMs: number): Culprit {
  sockets.sort((a, b) => b.ageMs - a.ageMs || a.fd - b.fd);
  const ages = sockets.map((s) => s.ageMs);
  const peers = peersOf(sockets);
  const culprit: Culprit = {
    ...holder, count: sockets.length,
    oldestAgeMs: Math.max(...ages), medianAgeMs: round1(median(ages)),
    ageIsLowerBound: sockets.some((s) => s.ageIsLowerBound),
    sockets, peers, advice: [],
  };
  culprit.advice = adviceFor(culprit, observedMs);
  return culprit;
}

function peersOf(sockets: CulpritSocket[]): CulpritPeer[] {
  const groups = new Map<string, CulpritSocket[]>();
  for (const s of sockets) {
    const key = formatEndpoint(s.daddr, s.dport);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(s);
  }
  return [...groups.values()]
    .map((group) => {
      const idles = group.map((s) => s.idleBeforeFinMs).filter((x): x is number => x !== null);
      return {
        daddr: group[0].daddr, dport: group[0].dport, count: group.length,
        idleBeforeFinMs: idles.length ? round1(median(idles)) : null,
      };
    })
    .sort((a, b) => b.count - a.count);
}

/** Peer FINs that come this soon after the last exchange are not an idle timeout. */
const PROMPT_FIN_MS = 1000;

/**
 * What the measurements support, and nothing more. No sysctl is offered: no
 * kernel setting frees CLOSE_WAIT sockets promptly; the cure is in the program.
 */
export function adviceFor(c: Culprit, observedMs: number): string[] {
  const advice: string[] = [];
  for (const peer of c.peers) {
    const at = formatEndpoint(peer.daddr, peer.dport);
    const idles = c.sockets.filter((s) => s.daddr === peer.daddr && s.dport === peer.dport && s.idleBeforeFinMs !== null)
      .map((s) => s.idleBeforeFinMs!);
    if (peer.idleBeforeFinMs === null) continue;
    const low = Math.min(...idles), high = Math.max(...idles);
    const spread = idles.length > 1 && high - low > 0.2 * peer.idleBeforeFinMs
      ? ` (measured ${formatSeconds(low)} to ${formatSeconds(high)} over ${idles.length} sockets)` : '';
    if (peer.idleBeforeFinMs >= PROMPT_FIN_MS) {
      const t = formatSeconds(peer.idleBeforeFinMs);
      advice.push(`peer ${at} closes idle connections after ~${t}${spread}; this process keeps them idle longer ` +
        `and never reads the FIN: evict idle connections before ${t} (a pool idle timeout below the peer's keep-alive timeout)`);
    } else {
      advice.push(`peer ${at} closed ${idles.length} connection(s) within ${formatSeconds(peer.idleBeforeFinMs)} of the ` +
        `last exchange, and this process never closed its side: look for an error or early-return path that skips close()`);
    }
  }
  const unmeasured = c.sockets.filter((s) => s.idleBeforeFinMs === null);
  if (unmeasured.length) {
    const before = unmeasured.filter((s) => s.ageIsLowerBound).length;
    advice.push(`${unmeasured.length} socket(s) have no idle time measured` +
      (before ? ` (${before} were in CLOSE_WAIT before tracing began, for at least ${formatSeconds(observedMs)})` : '') +
      ': trace from before they are closed by the peer to see why');
  }
  return advice;
}
