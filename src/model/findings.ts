/**
 * What `tcptrace doctor` concludes, as pure functions of what it measured:
 * the sockets now, the trace (who closed first, how many opened), the
 * kernel's counters before and after, and the settings. Every finding shows
 * its numbers and says what to do; a sysctl is named only where this host's
 * own data makes it relevant, with its value and the reason. Nothing here
 * changes the host.
 */
import { formatEndpoint, isLoopback } from '../kernel/addr';
import { TIME_WAIT_SECONDS } from '../kernel/states';
import { ServiceCloses, serviceKey } from './close-sides';
import { Culprit, CulpritReport, groupName } from './culprits';
import { RESET_REASON_MEANINGS, ResetSenders } from './resets';
import { clip, formatSeconds, percent, thousands } from '../units';
import { Counters, counterDelta, HostSettings, SysctlName, sysctlNumber } from '../host/settings';
import { ListenerRow, SnapshotReport } from './snapshot-report';

export type Severity = 'problem' | 'warning' | 'note';
export type Category = 'TIME_WAIT' | 'CLOSE_WAIT' | 'listen queue' | 'resets' | 'settings';

export interface SysctlValue {
  name: SysctlName;
  value: string | null;
}

export interface Finding {
  id: string;
  category: Category;
  severity: Severity;
  title: string;
  /** The numbers the finding rests on. */
  evidence: string[];
  action: string;
  /** The settings it names, with their values (null: not on this kernel). */
  sysctls: SysctlValue[];
  /** The same facts for machines: endpoints, counts, pids. */
  data: Record<string, unknown>;
}

export interface DoctorInput {
  observedMs: number;
  settings: HostSettings;
  countersBefore: Counters;
  countersAfter: Counters;
  /** The sockets when the observation ended. */
  sockets: SnapshotReport;
  /** Listeners when it began (a queue may have been full then and drained since). */
  listenersAtStart: ListenerRow[];
  closes: ServiceCloses[];
  culprits: CulpritReport;
  /** Processes whose connections ended with a RST, sent or received. */
  resets: ResetSenders[];
}

/** TIME_WAIT towards one service worth a finding: this many sockets... */
export const TIME_WAIT_MANY = 1000;
/** ...or this share of the ephemeral range for one destination, or of the rate 60 s allows. */
const SHARE_WORTH_NOTING = 0.25;
const SHARE_PROBLEM = 0.75;
const TW_BUCKETS_NEAR = 0.8;
/** One finding per service up to this many; the rest in one note. */
const MAX_TIME_WAIT_FINDINGS = 5;

const SEVERITY_ORDER: Record<Severity, number> = { problem: 0, warning: 1, note: 2 };

const pct = percent;
const n = thousands;
const rate = (x: number) => (x >= 10 ? n(x) : x.toFixed(1));

export function diagnose(input: DoctorInput): Finding[] {
  const timeWait = timeWaitFindings(input);
  const findings = [
    ...timeWait,
    ...timewaitBuckets(input),
    ...closeWait(input),
    ...listenOverflows(input),
    ...resetSenders(input),
    ...synQueue(input),
    ...settingsAudit(input, timeWait),
  ];
  return findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}

function sysctl(s: HostSettings, name: SysctlName): SysctlValue {
  return { name, value: s.sysctls[name] };
}

/** Ports connect() may pick per local address and destination (the range less reserved ports). */
function usable(input: DoctorInput): number {
  return input.sockets.ephemeral.usable;
}

// ---- TIME_WAIT --------------------------------------------------------------

interface TimeWaitService {
  side: 'client' | 'server';
  saddr: string;
  daddr: string | null;
  port: number;
  count: number;
}

/** TIME_WAIT sockets per service: per destination on the client side, per listening endpoint on the server side. */
function timeWaitServices(sockets: SnapshotReport): TimeWaitService[] {
  const services = new Map<string, TimeWaitService>();
  for (const g of sockets.timewait) {
    if (g.state !== 'TIME_WAIT') continue;
    const client = g.side === 'client';
    const port = (client ? g.dport : g.sport)!;
    const daddr = client ? g.daddr : null;
    const key = serviceKey(g.side, g.saddr, port, daddr);
    const s = services.get(key) ?? { side: g.side, saddr: g.saddr, daddr, port, count: 0 };
    s.count += g.count;
    services.set(key, s);
  }
  return [...services.values()].sort((a, b) => b.count - a.count);
}

/**
 * Whether connect() may take over a TIME_WAIT port towards this destination:
 * tcp_tw_reuse 1 for every outgoing connection, 2 (the default) when either
 * end is a loopback address; and only with TCP timestamps, which it relies on.
 */
export function twReuseCovers(twReuse: number | null, timestamps: number | null, saddr: string, daddr: string): boolean {
  if (timestamps === 0) return false;
  return twReuse === 1 || (twReuse === 2 && (isLoopback(saddr) || isLoopback(daddr)));
}

function serviceName(s: { side: 'client' | 'server'; saddr: string; daddr: string | null; port: number }): string {
  return s.side === 'client' ? `towards ${formatEndpoint(s.daddr!, s.port)} (from ${s.saddr})` : `of ${formatEndpoint(s.saddr, s.port)}`;
}

function closersText(closes: ServiceCloses | undefined): string {
  if (!closes?.closers.length) return '';
  return `: ${closes.closers.slice(0, 3).map((c) => `pid ${c.pid} ${c.comm ?? ''}`.trimEnd() + ` x${n(c.count)}`).join(', ')}`;
}

function sideEvidence(s: TimeWaitService, closes: ServiceCloses | undefined, observed: string): string {
  if (!closes || closes.closed === 0) {
    return `no such connection ended in the ${observed} observed: the side comes from the endpoints alone ` +
      '(the end that many sockets share is the service)';
  }
  const who = s.side === 'client' ? "this host's client" : "this host's server";
  return `traced: ${n(closes.closed)} connection(s) ended in ${observed}; ${who} sent the first FIN in ${n(closes.localFirst)}` +
    closersText(closes) + `; the peer in ${n(closes.remoteFirst)}` + (closes.noFin ? `; neither (reset) in ${n(closes.noFin)}` : '');
}

/**
 * Connections per second that leave a TIME_WAIT socket on this side: those it
 * closed first. With no close seen, who closes is not known: every new one.
 */
function timeWaitPerSecond(c: ServiceCloses | undefined, seconds: number): number {
  if (!c) return 0;
  return (c.closed === 0 ? c.opened : c.localFirst) / seconds;
}

/** Whether the trace shows the peer sending the first FIN in most of the connections that ended. */
function peerClosesMost(c: ServiceCloses | undefined): c is ServiceCloses {
  return c !== undefined && c.closed > 0 && c.localFirst * 2 < c.closed;
}

/** Who closes first, as the title says it: never against the trace's own count. */
function whoClosesFirst(s: TimeWaitService, c: ServiceCloses | undefined): string {
  const who = s.side === 'client' ? "this host's client" : 'this server';
  if (!peerClosesMost(c)) return `${who} closes first`;
  return `left by connections ${who} closed first, though the peer sent the first FIN in ` +
    `${n(c.remoteFirst)} of the ${n(c.closed)} that ended while traced`;
}

function timeWaitFindings(input: DoctorInput): Finding[] {
  const seconds = input.observedMs / 1000;
  const observed = formatSeconds(input.observedMs);
  const closes = new Map(input.closes.map((c) => [serviceKey(c.role, c.saddr, c.port, c.daddr), c]));
  const destinations = new Map(input.sockets.ephemeral.destinations.map((d) => [serviceKey('client', d.saddr, d.dport, d.daddr), d]));
  const ports = usable(input);
  const allowedPerSecond = ports / TIME_WAIT_SECONDS;
  const twReuse = sysctlNumber(input.settings, 'net.ipv4.tcp_tw_reuse');
  const out: Finding[] = [];

  const services = timeWaitServices(input.sockets);
  for (const s of services) {
    const key = serviceKey(s.side, s.saddr, s.port, s.daddr);
    const c = closes.get(key);
    const perSecond = c ? c.opened / seconds : 0;
    const closedFirstPerSecond = timeWaitPerSecond(c, seconds);
    const used = destinations.get(key);
    const share = s.side === 'client' ? Math.max((used?.ports ?? s.count) / ports, closedFirstPerSecond / allowedPerSecond) : 0;
    if (s.count < TIME_WAIT_MANY && share < SHARE_WORTH_NOTING) continue;
    if (out.length === MAX_TIME_WAIT_FINDINGS) {
      out.push(moreTimeWait(services.slice(services.indexOf(s))));
      break;
    }

    const evidence = [sideEvidence(s, c, observed)];
    const data: Record<string, unknown> = {
      side: s.side, saddr: s.saddr, daddr: s.daddr, port: s.port, timeWait: s.count,
      closed: c?.closed ?? 0, localFirst: c?.localFirst ?? 0, remoteFirst: c?.remoteFirst ?? 0, closers: c?.closers ?? [],
      openedPerSecond: Math.round(perSecond * 10) / 10, closedFirstPerSecond: Math.round(closedFirstPerSecond * 10) / 10,
      peakPerSecond: c?.peakPerSecond ?? 0,
    };
    if (s.side === 'client') {
      out.push(clientTimeWait(input, s, c, {
        evidence, data, used: used?.ports ?? s.count, perSecond, closedFirstPerSecond, peakPerSecond: c?.peakPerSecond ?? 0,
        allowedPerSecond, share, twReuse,
      }));
    } else {
      evidence.push(`server-side TIME_WAIT holds no ephemeral port; it counts only against tcp_max_tw_buckets ` +
        `(${input.settings.sysctls['net.ipv4.tcp_max_tw_buckets'] ?? '?'})`);
      out.push({
        id: 'time-wait', category: 'TIME_WAIT', severity: 'note', data,
        title: `${n(s.count)} TIME_WAIT sockets on the server side ${serviceName(s)}: ${whoClosesFirst(s, c)}`,
        evidence,
        action: 'Nothing runs out here: a server\'s TIME_WAIT uses no ephemeral port, and a client\'s new SYN can reuse the pair. ' +
          'To keep TIME_WAIT off the server, let clients close first (for HTTP: keep-alive, with the client closing idle connections). ' +
          'tcp_tw_reuse does not apply: it affects outgoing connections (connect()) only.',
        sysctls: [sysctl(input.settings, 'net.ipv4.tcp_tw_reuse'), sysctl(input.settings, 'net.ipv4.tcp_max_tw_buckets')],
      });
    }
  }
  return out;
}

function moreTimeWait(rest: TimeWaitService[]): Finding {
  const sockets = rest.reduce((sum, s) => sum + s.count, 0);
  return {
    id: 'time-wait-more', category: 'TIME_WAIT', severity: 'note', sysctls: [],
    title: `${n(sockets)} more TIME_WAIT sockets towards or of ${n(rest.length)} other service(s)`,
    evidence: rest.slice(0, 5).map((s) => `${n(s.count)} on the ${s.side} side ${serviceName(s)}`),
    action: 'tcptrace snapshot lists every destination with its share of the ephemeral range; the findings above say what applies to each.',
    data: { services: rest.length, timeWait: sockets },
  };
}

interface ClientTimeWait {
  evidence: string[];
  data: Record<string, unknown>;
  used: number;
  perSecond: number;
  /** Of them, those this side closed first: each leaves a TIME_WAIT socket here. */
  closedFirstPerSecond: number;
  peakPerSecond: number;
  allowedPerSecond: number;
  share: number;
  twReuse: number | null;
}

function clientTimeWait(input: DoctorInput, s: TimeWaitService, c: ServiceCloses | undefined, t: ClientTimeWait): Finding {
  const settings = input.settings;
  const range = `${settings.ephemeral.low}-${settings.ephemeral.high}`;
  const timestamps = sysctlNumber(settings, 'net.ipv4.tcp_timestamps');
  const covered = twReuseCovers(t.twReuse, timestamps, s.saddr, s.daddr!);
  t.evidence.push(
    `ephemeral ports in use for this local address and destination: ${n(t.used)} of ${n(usable(input))} ` +
      `(${pct(t.used / usable(input))}; net.ipv4.ip_local_port_range = ${range})`,
    `connections this host's client closed first (each leaves a TIME_WAIT socket): ${rate(t.closedFirstPerSecond)}/s on average, ` +
      `of ${rate(t.perSecond)}/s new` + (t.peakPerSecond ? ` (${n(t.peakPerSecond)} in the busiest second)` : '') +
      `; with ${TIME_WAIT_SECONDS} s of TIME_WAIT each, ${rate(t.allowedPerSecond)}/s (${n(usable(input))} ports / ${TIME_WAIT_SECONDS} s) take every port`,
    `net.ipv4.tcp_tw_reuse = ${t.twReuse ?? 'absent'}, net.ipv4.tcp_timestamps = ${timestamps ?? 'absent'}: ` + (covered
      ? 'connect() may take over a TIME_WAIT port to this destination once it is older than tcp_tw_reuse_delay ' +
        `(${settings.sysctls['net.ipv4.tcp_tw_reuse_delay'] ?? '1000'} ms)`
      : 'connect() does not reuse TIME_WAIT ports to this destination'),
  );
  Object.assign(t.data, { portsInUse: t.used, share: Math.round(t.share * 1000) / 1000, allowedPerSecond: Math.round(t.allowedPerSecond), twReuseCovers: covered });
  const severity: Severity = t.share >= SHARE_PROBLEM && !covered ? 'problem' : 'warning';
  const actions = [peerClosesMost(c)
    ? 'The peer now closes most connections first, so these drain within 60 s unless this host\'s client closes first again; ' +
      'where it does, reuse connections to this destination (keep-alive, a connection pool) instead of one per request'
    : 'Reuse connections to this destination (keep-alive, a connection pool) instead of one per request, or let the server close first'];
  const sysctls = [sysctl(settings, 'net.ipv4.tcp_tw_reuse'), sysctl(settings, 'net.ipv4.ip_local_port_range')];
  if (!covered && timestamps !== 0) {
    actions.push('if that cannot change, net.ipv4.tcp_tw_reuse=1 lets connect() reuse its own TIME_WAIT ports (outgoing connections only; it relies on TCP timestamps, on here)');
  }
  if (t.share >= SHARE_PROBLEM && !covered) {
    actions.push(`widen net.ipv4.ip_local_port_range (now ${range}) or spread connections over more local addresses: ` +
      `at this use and rate, TIME_WAIT needs ${pct(t.share)} of the range`);
  }
  if (covered) actions.push('with tcp_tw_reuse covering this destination, connect() will not run out of ports for this reason');
  return {
    id: 'time-wait', category: 'TIME_WAIT', severity, data: t.data, sysctls, evidence: t.evidence,
    title: `${n(s.count)} TIME_WAIT sockets on the client side ${serviceName(s)}: ${whoClosesFirst(s, c)}`,
    action: `${actions.join('; ')}.`,
  };
}

function timewaitBuckets(input: DoctorInput): Finding[] {
  const max = sysctlNumber(input.settings, 'net.ipv4.tcp_max_tw_buckets');
  const overflowNow = counterDelta(input.countersBefore, input.countersAfter, 'TcpExt.TCPTimeWaitOverflow');
  const overflowTotal = input.countersAfter['TcpExt.TCPTimeWaitOverflow'] ?? 0;
  const count = input.sockets.timewaitSockets;
  const near = max !== null && max > 0 && count >= TW_BUCKETS_NEAR * max;
  if (overflowNow === 0 && !near) return [];
  return [{
    id: 'time-wait-buckets', category: 'TIME_WAIT', severity: overflowNow > 0 ? 'problem' : 'warning',
    title: overflowNow > 0
      ? `${n(overflowNow)} connection(s) closed without a TIME_WAIT socket: tcp_max_tw_buckets was reached`
      : `${n(count)} timewait sockets, ${pct(count / max!)} of tcp_max_tw_buckets`,
    evidence: [
      `timewait sockets now: ${n(count)}; net.ipv4.tcp_max_tw_buckets = ${max ?? 'absent'}`,
      `TcpExt.TCPTimeWaitOverflow: +${n(overflowNow)} in ${formatSeconds(input.observedMs)} (${n(overflowTotal)} since boot)`,
    ],
    action: 'Past the limit the kernel skips TIME_WAIT, so late segments of an old connection can reach a new one on the same ports. ' +
      'Open fewer short connections (reuse them), or raise net.ipv4.tcp_max_tw_buckets if memory allows.',
    sysctls: [sysctl(input.settings, 'net.ipv4.tcp_max_tw_buckets')],
    data: { timewaitSockets: count, max, overflowDuringObservation: overflowNow, overflowSinceBoot: overflowTotal },
  }];
}

// ---- CLOSE_WAIT -------------------------------------------------------------

/** Processes, and groups per process, named in the evidence; `tcptrace culprits` lists the rest. */
const CULPRITS_SHOWN = 3;
/** A JVM's command line can be 80 KB: the evidence names the program, not every flag. */
const CMDLINE_SHOWN = 100;

function culpritEvidence(c: Culprit): string {
  const groups = c.groups.slice(0, CULPRITS_SHOWN).map((g) => `${groupName(g)} x${n(g.count)}`);
  const more = c.groups.length - groups.length;
  if (more) groups.push(`${n(more)} more group(s)`);
  return `pid ${c.pid} (${clip(c.cmdline, CMDLINE_SHOWN)}): ${n(c.count)} in CLOSE_WAIT, ` +
    `oldest ${c.ageIsLowerBound ? '>=' : ''}${formatSeconds(c.oldestAgeMs)}; ${groups.join(', ')}`;
}

function closeWait(input: DoctorInput): Finding[] {
  const r = input.culprits;
  if (r.culprits.length === 0) return [];
  const top = r.culprits.slice(0, CULPRITS_SHOWN);
  const evidence = top.map(culpritEvidence);
  if (r.culprits.length > top.length) evidence.push(`... and ${r.culprits.length - top.length} more process(es) (tcptrace culprits lists them all)`);
  if (r.orphans) evidence.push(`${n(r.orphans)} more CLOSE_WAIT socket(s) held by no process (being torn down)`);
  const advice = top.flatMap((c) => c.advice.slice(0, 1).map((a) => `pid ${c.pid}: ${a}.`));
  return [{
    id: 'close-wait', category: 'CLOSE_WAIT', severity: 'problem',
    title: `${n(r.sockets)} socket(s) in CLOSE_WAIT held by ${r.culprits.length} process(es): the peer closed, the program did not`,
    evidence,
    action: `Fix the program: close() a socket once a read returns end-of-file (or the pool evicts it); no kernel setting frees these. ${advice.join(' ')}`.trim(),
    sysctls: [],
    data: {
      sockets: r.sockets, orphans: r.orphans,
      culprits: r.culprits.map((c) => ({
        pid: c.pid, comm: c.comm, cmdline: c.cmdline, count: c.count, oldestAgeMs: c.oldestAgeMs,
        ageIsLowerBound: c.ageIsLowerBound, groups: c.groups, advice: c.advice,
      })),
    },
  }];
}

// ---- resets -----------------------------------------------------------------

/** One finding per process that ended connections with RSTs it sent: how many, and why, in the kernel's words and ours. */
function resetSenders(input: DoctorInput): Finding[] {
  return input.resets.filter((r) => r.sentTotal > 0).map((r) => {
    const who = r.pid === null ? 'an unknown process' : `pid ${r.pid}${r.comm ? ` (${r.comm})` : ''}`;
    const top = r.sent[0];
    const meaning = RESET_REASON_MEANINGS[top.reason];
    return {
      id: 'resets', category: 'resets', severity: 'warning',
      title: `${who} sent ${n(r.sentTotal)} reset(s)${meaning ? `: ${meaning}` : ''}`,
      evidence: [
        ...r.sent.map((s) => `${n(s.count)} RST(s) sent, the kernel's reason: ${s.reason}`),
        ...(r.received ? [`${n(r.received)} RST(s) received by its connections`] : []),
      ],
      action: meaning
        ? 'A RST tears the connection down at once: the peer gets ECONNRESET and any data in flight is lost. Read what the peer sends before close(), and leave SO_LINGER 0 to real aborts.'
        : 'A RST tears the connection down at once: the peer gets ECONNRESET and any data in flight is lost. The reason names the kernel path that sent it.',
      sysctls: [],
      data: { pid: r.pid, comm: r.comm, sent: r.sent, received: r.received },
    };
  });
}

// ---- listen queues ----------------------------------------------------------

/** A listener that overflowed: what it dropped while observed (its kernel count at the end less at the
 *  start), null if it was not listening at the end. */
type OverflowingListener = ListenerRow & { droppedWhileObserved: number | null };

/**
 * Listeners that dropped while observed, or whose accept queue was full
 * (past its limit, as the kernel counts) at the start or the end.
 */
function fullListeners(input: DoctorInput): OverflowingListener[] {
  const key = (l: ListenerRow) => `${l.saddr} ${l.sport}`;
  const dropsAtStart = new Map(input.listenersAtStart.map((l) => [key(l), l.listenDrops]));
  const full = new Map<string, OverflowingListener>();
  for (const l of input.listenersAtStart) {
    if (l.acceptQueue > l.acceptQueueLimit) full.set(key(l), { ...l, droppedWhileObserved: null });
  }
  for (const l of input.sockets.listeners) {
    const dropped = Math.max(0, l.listenDrops - (dropsAtStart.get(key(l)) ?? 0));
    if (dropped > 0 || l.acceptQueue > l.acceptQueueLimit || full.has(key(l))) full.set(key(l), { ...l, droppedWhileObserved: dropped });
  }
  return [...full.values()].sort((a, b) => (b.droppedWhileObserved ?? 0) - (a.droppedWhileObserved ?? 0));
}

function listenOverflows(input: DoctorInput): Finding[] {
  const overflows = counterDelta(input.countersBefore, input.countersAfter, 'TcpExt.ListenOverflows');
  const drops = counterDelta(input.countersBefore, input.countersAfter, 'TcpExt.ListenDrops');
  if (overflows === 0 && drops === 0) return [];
  const somaxconn = sysctlNumber(input.settings, 'net.core.somaxconn');
  const full = fullListeners(input);
  const evidence = [
    `TcpExt.ListenOverflows +${n(overflows)}, TcpExt.ListenDrops +${n(drops)} in ${formatSeconds(input.observedMs)}: ` +
      'connections dropped because an accept queue was full',
    ...full.map((l) => `${formatEndpoint(l.saddr, l.sport)} (pid ${l.pid ?? '?'} ${l.comm ?? ''}): `.replace(' )', ')') +
      `${l.droppedWhileObserved === null ? '' : `dropped ${n(l.droppedWhileObserved)} while observed, `}accept queue ${l.acceptQueue}/${l.acceptQueueLimit}`),
  ];
  if (full.length === 0) evidence.push('no listener of this namespace dropped while observed or was seen with a full queue');
  evidence.push(`net.core.somaxconn = ${somaxconn ?? 'absent'}: the largest accept queue any listen() backlog gets`);
  const cappedBySomaxconn = full.filter((l) => somaxconn !== null && l.acceptQueueLimit >= somaxconn);
  const smallBacklog = full.filter((l) => somaxconn !== null && l.acceptQueueLimit < somaxconn);
  const actions = ['Accept faster (more accepting threads, less work before accept())'];
  if (cappedBySomaxconn.length) {
    actions.push(`${cappedBySomaxconn.map((l) => formatEndpoint(l.saddr, l.sport)).join(', ')}: the queue limit is net.core.somaxconn ` +
      `(${somaxconn}); raise it together with the backlog the program passes to listen()`);
  }
  if (smallBacklog.length) {
    actions.push(`${smallBacklog.map((l) => `${formatEndpoint(l.saddr, l.sport)} (limit ${l.acceptQueueLimit})`).join(', ')}: ` +
      `the program's own listen() backlog is the limit, below net.core.somaxconn (${somaxconn}), so raising somaxconn changes nothing: raise the backlog in the program`);
  }
  actions.push(`net.ipv4.tcp_max_syn_backlog (${input.settings.sysctls['net.ipv4.tcp_max_syn_backlog'] ?? '?'}) sizes the SYN queue, not this accept queue: raising it does not help here`);
  return [{
    id: 'listen-overflows', category: 'listen queue', severity: 'problem',
    title: `${n(overflows)} listen-queue overflow(s) during the observation`,
    evidence, action: `${actions.join('; ')}.`,
    sysctls: [sysctl(input.settings, 'net.core.somaxconn'), sysctl(input.settings, 'net.ipv4.tcp_max_syn_backlog')],
    data: { listenOverflows: overflows, listenDrops: drops, somaxconn, fullListeners: full },
  }];
}

function synQueue(input: DoctorInput): Finding[] {
  const dropped = counterDelta(input.countersBefore, input.countersAfter, 'TcpExt.TCPReqQFullDrop');
  const cookies = counterDelta(input.countersBefore, input.countersAfter, 'TcpExt.TCPReqQFullDoCookies');
  if (dropped === 0 && cookies === 0) return [];
  const syncookies = sysctlNumber(input.settings, 'net.ipv4.tcp_syncookies');
  return [{
    id: 'syn-queue', category: 'listen queue', severity: dropped > 0 ? 'problem' : 'warning',
    title: dropped > 0 ? `${n(dropped)} SYN(s) dropped: a SYN queue was full` : `${n(cookies)} SYN cookie(s) sent: a SYN queue was full`,
    evidence: [
      `TcpExt.TCPReqQFullDrop +${n(dropped)}, TcpExt.TCPReqQFullDoCookies +${n(cookies)} in ${formatSeconds(input.observedMs)}`,
      `request sockets now: ${n(input.sockets.requestSockets)}; net.ipv4.tcp_max_syn_backlog = ${input.settings.sysctls['net.ipv4.tcp_max_syn_backlog'] ?? '?'}; ` +
        `net.ipv4.tcp_syncookies = ${syncookies ?? '?'}`,
    ],
    action: dropped > 0 && syncookies === 0
      ? 'Handshakes are being dropped with SYN cookies off: set net.ipv4.tcp_syncookies=1, and raise net.ipv4.tcp_max_syn_backlog if the SYN rate is legitimate.'
      : 'Many half-open handshakes: if the SYN rate is legitimate, raise net.ipv4.tcp_max_syn_backlog (and the listen() backlog); if not, it is a SYN flood and cookies are the defence.',
    sysctls: [sysctl(input.settings, 'net.ipv4.tcp_max_syn_backlog'), sysctl(input.settings, 'net.ipv4.tcp_syncookies')],
    data: { reqQFullDrop: dropped, reqQFullDoCookies: cookies, requestSockets: input.sockets.requestSockets },
  }];
}

// ---- settings audit: what is commonly believed, against this host's data ----

function settingsAudit(input: DoctorInput, timeWait: Finding[]): Finding[] {
  const s = input.settings;
  const out: Finding[] = [];
  const audit = (name: SysctlName, severity: Severity, title: string, evidence: string[], action: string, data: Record<string, unknown> = {}) =>
    out.push({ id: `sysctl:${name}`, category: 'settings', severity, title, evidence, action, sysctls: [sysctl(s, name)], data: { name, value: s.sysctls[name], ...data } });
  const tw = input.sockets.states.TIME_WAIT ?? 0;
  const twNote = `${n(tw)} socket(s) in TIME_WAIT now`;

  const recycle = s.sysctls['net.ipv4.tcp_tw_recycle'];
  if (recycle !== null && recycle !== '0') {
    audit('net.ipv4.tcp_tw_recycle', 'problem', `net.ipv4.tcp_tw_recycle = ${recycle}: drops connections from clients behind NAT`,
      [`net.ipv4.tcp_tw_recycle = ${recycle} on kernel ${s.kernel}`],
      'Set it to 0: it rejects SYNs whose timestamps go backwards per peer address, which is normal for clients sharing a NAT address. Linux 4.12 removed it for this reason.');
  } else if (timeWait.length && recycle === null) {
    audit('net.ipv4.tcp_tw_recycle', 'note', 'net.ipv4.tcp_tw_recycle does not exist on this kernel: advice to enable it is out of date',
      [twNote, `/proc/sys/net/ipv4/tcp_tw_recycle is absent (kernel ${s.kernel})`],
      'Ignore advice to set it: Linux 4.12 removed it, because it broke clients behind NAT. See the TIME_WAIT findings for what helps.');
  }

  const finTimeout = sysctlNumber(s, 'net.ipv4.tcp_fin_timeout');
  const finWait2Orphans = input.sockets.timewaitSockets - tw;
  if (timeWait.length || (finTimeout !== null && finTimeout !== TIME_WAIT_SECONDS && tw > 0)) {
    audit('net.ipv4.tcp_fin_timeout', 'note', `net.ipv4.tcp_fin_timeout = ${finTimeout ?? 'absent'} does not shorten TIME_WAIT`,
      [twNote, `TIME_WAIT lasts ${TIME_WAIT_SECONDS} s (TCP_TIMEWAIT_LEN, fixed in the kernel)`,
        `${n(finWait2Orphans)} orphaned FIN_WAIT2 socket(s) now: the only ones tcp_fin_timeout bounds`],
      finTimeout !== null && finTimeout !== TIME_WAIT_SECONDS
        ? `It was changed from ${TIME_WAIT_SECONDS}, perhaps to shorten TIME_WAIT: it does not. It only bounds how long a closed socket waits for a peer that never sends its FIN.`
        : 'Lowering it will not reduce TIME_WAIT: it only bounds how long a closed socket waits for a peer that never sends its FIN.');
  }

  const reuse = sysctlNumber(s, 'net.ipv4.tcp_tw_reuse');
  if (timeWait.length) {
    const serverSide = timeWait.filter((f) => f.id === 'time-wait' && f.data.side === 'server').length;
    const clientSide = timeWait.filter((f) => f.id === 'time-wait' && f.data.side === 'client').length;
    audit('net.ipv4.tcp_tw_reuse', 'note', `net.ipv4.tcp_tw_reuse = ${reuse ?? 'absent'} helps outgoing connections only`,
      [`TIME_WAIT findings: ${clientSide} on the client side (connect() from this host), ${serverSide} on the server side`,
        `tcp_tw_reuse: 0 off, 1 every outgoing connection, 2 loopback only (the default)`],
      serverSide && !clientSide
        ? 'It cannot help here: all this TIME_WAIT is on the server side, and tcp_tw_reuse only lets connect() reuse ports.'
        : 'It only lets connect() reuse a TIME_WAIT port (see the client-side findings for whether it covers each destination); server-side TIME_WAIT is unaffected.');
  }

  if (input.culprits.culprits.length) {
    const keepalive = sysctlNumber(s, 'net.ipv4.tcp_keepalive_time');
    audit('net.ipv4.tcp_keepalive_time', 'note', `net.ipv4.tcp_keepalive_time = ${keepalive ?? 'absent'} s will not free CLOSE_WAIT sockets`,
      [`${n(input.culprits.sockets)} socket(s) in CLOSE_WAIT held by programs`,
        `keepalive probes start after ${keepalive ?? '?'} s idle, every ${s.sysctls['net.ipv4.tcp_keepalive_intvl'] ?? '?'} s, ` +
          `${s.sysctls['net.ipv4.tcp_keepalive_probes'] ?? '?'} times, and only on sockets with SO_KEEPALIVE`],
      'Do not tune keepalive for this: at best a probe is answered with a reset, the socket closes, and the fd still stays open in the program. The fix is close() in the program.');
  }
  return out;
}
