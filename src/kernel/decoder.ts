/**
 * Binary records from the addon -> plain objects. The offsets below mirror
 * bpf/tcptrace.h; test/decoder.test.ts checks them against the offsets the
 * addon's compiler used, so the two cannot drift apart unnoticed.
 */
import { formatAddress } from './addr';
import { AF_INET, stateName, TCP } from './states';

export const EVENT_LAYOUT = {
  size: 136, ts_ns: 0, skaddr: 8, sock_id: 16, prev_state_ns: 24, saddr: 32, daddr: 48,
  netns: 64, pid: 68, sport: 72, dport: 74, family: 76, oldstate: 77, newstate: 78,
  owner_src: 79, comm: 80, flags: 96, kind: 97, peer_fin: 98, reset: 99, sk_err: 100, reset_reason: 102,
  tx_bytes: 104, rx_bytes: 112, idle_ns: 120, cgroup_id: 128,
} as const;

/** TCPTRACE_EVENT_* bits of the flags field. */
export const EVENT_FLAGS = { inferred: 0x1 } as const;

/** enum tcptrace_reset, and the reason code for "the kernel gives none". */
export const RESET_CODES = { received: 1, sent: 2, reasonNotKnown: 0xffff } as const;

/** This kernel's names of its RST reasons by code (enum sk_rst_reason), for the events decoded from now on. */
let resetReasonNames: string[] = [];

export function useResetReasonNames(names: string[]): void {
  resetReasonNames = names.map((n) => n.replace(/^SK_RST_REASON_/, ''));
}

/** The names in use (a capture's header keeps them: its records carry codes). */
export function resetReasonNamesInUse(): string[] {
  return [...resetReasonNames];
}

/** A sent RST's reason code by name: null where the kernel gives none. */
export function resetReasonName(code: number): string | null {
  if (code === RESET_CODES.reasonNotKnown) return null;
  return resetReasonNames[code] || `reason ${code}`;
}

/** enum tcptrace_event_kind. */
export const EVENT_KINDS = ['transition', 'accept'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** struct tcptrace_connection: a connection's last transition (an event, at `last`), then its story. */
export const CONNECTION_LAYOUT = {
  size: 264, last: 0, start_ns: 136, dwell_ns: 144, opener_pid: 240, role: 244, closed_first: 245,
  acked: 246, born: 247, opener_comm: 248,
} as const;
/** TCPTRACE_DWELL_STATES: dwell_ns holds one slot per state number below it. */
export const DWELL_STATES = 12;
/** KIND_CONNECTION (its `last` decodes as the transition it is), enum tcptrace_role,
 *  enum tcptrace_closed_first and TCPTRACE_ACKED_* as the kernel codes them. */
export const CONNECTION_CODES = { kind: 2, client: 1, server: 2, closedLocal: 1, closedRemote: 2, ackedSyn: 1, ackedFin: 2 } as const;

export const SOCK_REC_LAYOUT = {
  size: 120, skaddr: 0, sock_id: 8, saddr: 16, daddr: 32, netns: 48, uid: 52, inode: 56,
  sport: 60, dport: 62, family: 64, state: 65, tw_substate: 66, ack_backlog: 68, max_ack_backlog: 72,
  opener_pid: 76, state_since_ns: 80, fin_idle_ns: 88, opener_comm: 96, listen_drops: 112,
} as const;

/** struct tcptrace_process_tally and tcptrace_peer_tally: the live view's counts per owner and per peer. */
export const PROCESS_TALLY_LAYOUT = { size: 40, pid: 0, transitions: 8, cgroup_id: 16, comm: 24 } as const;
export const PEER_TALLY_LAYOUT = { size: 32, addr: 0, family: 16, transitions: 24 } as const;

/** struct tcptrace_listener_rec: a listener as count_states passes it. */
export const LISTENER_REC_LAYOUT = {
  size: 64, skaddr: 0, saddr: 8, netns: 24, ack_backlog: 28, max_ack_backlog: 32, listen_drops: 36, owner_pid: 40,
  sport: 44, family: 46, owner_comm: 48,
} as const;

export const FILE_REC_LAYOUT = { size: 48, skaddr: 0, sock_id: 8, pid: 16, fd: 20, comm: 24, cgroup_id: 40 } as const;

export const COMM_LEN = 16;
export const STATE_COUNT_SLOTS = 16;
/** TCPTRACE_DEFAULT_RING_BYTES: the ring buffer's size unless --ring-buffer says otherwise. */
export const DEFAULT_RING_BYTES = 8 << 20;

/** Where an event's owner came from (enum tcptrace_owner_src). */
export const OWNER_SOURCES = [null, 'syscall', 'cached', 'listener', 'snapshot'] as const;
export type OwnerSource = (typeof OWNER_SOURCES)[number];

/** A socket's identity in a trace and its two ends, as every record carries them. */
export interface Endpoints {
  /** Unique per socket life within one trace (0: not tracked). */
  sockId: number;
  family: 4 | 6;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  netns: number;
}

/** Keeps the last known ends: ports are 0 before connect() picks one and
 *  after the kernel releases it at ->CLOSE. */
export function takeEndpoints(target: Endpoints, e: Endpoints): void {
  if (e.sport) target.sport = e.sport;
  if (e.dport) {
    target.saddr = e.saddr;
    target.daddr = e.daddr;
    target.dport = e.dport;
  }
}

export interface TransitionEvent extends Endpoints {
  /** 'accept': accept() returned the socket; prevStateNs is then its wait in the accept queue. */
  kind: EventKind;
  /** CLOCK_MONOTONIC nanoseconds (the kernel's bpf_ktime_get_ns). */
  tsNs: number;
  skaddr: string;
  oldstate: number;
  newstate: number;
  /** Time spent in oldstate, or null where the trace did not see it begin. */
  prevStateNs: number | null;
  /** Owner tgid, or null where no process context has named it. */
  pid: number | null;
  comm: string | null;
  /** The owner's cgroup v2 id (the inode of its /sys/fs/cgroup directory); null with no owner. */
  cgroupId: number | null;
  ownerSource: OwnerSource;
  /** Not seen: the kernel skipped its BPF programs for this transition and the
   *  socket's next one revealed it. Its time is when that was noticed. */
  inferred: boolean;
  /** The kernel's byte counters: tx counts an acked SYN and FIN, rx the peer's FIN (see tracker). */
  txBytes: number;
  rxBytes: number;
  /** At ->CLOSE: the socket's errno (0 if none), and whether the peer's FIN had been processed. */
  error: number;
  peerFinReceived: boolean;
  /** Time since the owner's last send/recv on this socket; null if none was seen. */
  idleNs: number | null;
  /** At ->CLOSE: the RST that ended it, the peer's or this side's (an abort), if one did
   *  (absent from traces written before format 1.3). */
  reset?: 'received' | 'sent' | null;
  /** A sent RST's reason, as the kernel names it (TCP_ABORT_ON_CLOSE, ...); null before Linux 6.10. */
  resetReason?: string | null;
}

/**
 * A finished connection as the kernel side kept it (tcplife's way): its last
 * transition, and what came before it. The tracker (model/tracker.ts) applies
 * the last one as it would to a connection it followed itself.
 */
export interface KernelConnection {
  /** Its ->CLOSE. */
  last: TransitionEvent;
  /** Birth if born while traced, else first sight (snapshot or mid-life). */
  startNs: number;
  born: boolean;
  /** Completed time per state name, before the last transition, where the state's start was seen. */
  dwellNs: Record<string, number>;
  openedBy: { pid: number; comm: string | null } | null;
  /** null: first seen mid-life or in the snapshot (the snapshot's listeners tell). */
  role: 'client' | 'server' | null;
  closedFirst: 'local' | 'remote' | null;
  synAcked: boolean;
  finAcked: boolean;
}

/** Transitions since loading, per owner (a known one) and per remote address (once there is a remote port). */
export interface KernelTallies {
  processes: { pid: number; comm: string; cgroupId: number | null; transitions: number }[];
  peers: { daddr: string; transitions: number }[];
}

/** sockId is 0 for TIME_WAIT and request sockets, which are not tracked. */
export interface SnapshotSocket extends Endpoints {
  skaddr: string;
  uid: number;
  inode: number;
  /** The kernel's state: TIME_WAIT for every timewait socket, NEW_SYN_RECV for a request socket. */
  state: number;
  /** Timewait sockets only: TIME_WAIT, or FIN_WAIT2 for an orphan still waiting
   *  for the peer's FIN (the state ss and /proc/net/tcp show). */
  twSubstate?: number;
  /** Listening sockets only: connections waiting in the accept queue, and its limit. */
  acceptQueue?: number;
  acceptQueueLimit?: number;
  /** Listening sockets only: SYNs and handshakes it dropped since it began listening (ListenDrops,
   *  mostly a full accept queue). */
  listenDrops?: number;
  /** Tracked sockets in CLOSE_WAIT only: what the kernel side kept of them, so a
   *  report on them needs no event (null: not seen while traced). */
  closeWait?: CloseWaitFacts;
}

export interface CloseWaitFacts {
  /** When it entered CLOSE_WAIT. */
  sinceNs: number | null;
  /** From the owner's last send/recv to the peer's FIN. */
  idleBeforeFinNs: number | null;
  /** The process that connected or accept()ed it. */
  openedBy: { pid: number; comm: string | null } | null;
}

export interface SnapshotFile {
  skaddr: string;
  sockId: number;
  pid: number;
  fd: number;
  comm: string;
  /** The holder's cgroup v2 id. */
  cgroupId: number;
  /** Added when the snapshot is taken (from /proc), so a recording keeps it. */
  cmdline?: string;
}

/** The sockets of the host and who holds each, as the iterators list them. */
export interface Snapshot {
  sockets: SnapshotSocket[];
  files: SnapshotFile[];
}

/** A snapshot and when it was taken (monotonic ns, as events' tsNs). */
export interface TimedSnapshot extends Snapshot {
  tsNs: number;
}

function u64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 0x1_0000_0000;
}

const HEX_DIGITS = [...'0123456789abcdef'].map((c) => c.charCodeAt(0));

/**
 * A u64 as hex, as bcc prints kernel addresses. Built in one piece: joined
 * halves make a rope string that every Map lookup must flatten first, which
 * made joining 100,000 snapshot sockets to their holders several times slower.
 */
function hex64(buf: Buffer, offset: number): string {
  const hi = buf.readUInt32LE(offset + 4), lo = buf.readUInt32LE(offset);
  const d = HEX_DIGITS;
  const text = String.fromCharCode(
    d[hi >>> 28], d[(hi >>> 24) & 15], d[(hi >>> 20) & 15], d[(hi >>> 16) & 15],
    d[(hi >>> 12) & 15], d[(hi >>> 8) & 15], d[(hi >>> 4) & 15], d[hi & 15],
    d[lo >>> 28], d[(lo >>> 24) & 15], d[(lo >>> 20) & 15], d[(lo >>> 16) & 15],
    d[(lo >>> 12) & 15], d[(lo >>> 8) & 15], d[(lo >>> 4) & 15], d[lo & 15]);
  if (hi >= 0x1000_0000) return text; // kernel addresses: no leading zero
  // Leading zeros dropped, the low half always in full.
  return hi === 0 ? text.slice(8) : text.slice(text.search(/[^0]/));
}

function cString(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

// A socket's address comes in every one of its events: format it once per
// socket. Kernel addresses start 0xffff, so the low 48 bits key it exactly.
const SKADDR_CACHE_MAX = 16384;
const skaddrTexts = new Map<number, string>();

function skaddrText(buf: Buffer, at: number): string {
  const high = buf.readUInt32LE(at + 4);
  if (high >>> 16 !== 0xffff) return hex64(buf, at);
  const key = (high & 0xffff) * 0x1_0000_0000 + buf.readUInt32LE(at);
  let text = skaddrTexts.get(key);
  if (text === undefined) {
    if (skaddrTexts.size >= SKADDR_CACHE_MAX) skaddrTexts.clear();
    skaddrTexts.set(key, (text = hex64(buf, at)));
  }
  return text;
}

// A process's name comes in every event it owns: keep the last one seen per
// pid, with its raw bytes, so a rename (exec, prctl) is still noticed.
interface CommText { raw: [number, number, number, number]; text: string }
const COMM_CACHE_MAX = 4096;
const commTexts = new Map<number, CommText>();

function commText(buf: Buffer, at: number, pid: number): string {
  const w0 = buf.readInt32LE(at), w1 = buf.readInt32LE(at + 4);
  const w2 = buf.readInt32LE(at + 8), w3 = buf.readInt32LE(at + 12);
  const known = commTexts.get(pid);
  if (known && known.raw[0] === w0 && known.raw[1] === w1 && known.raw[2] === w2 && known.raw[3] === w3) {
    return known.text;
  }
  const text = cString(buf, at, COMM_LEN);
  if (commTexts.size >= COMM_CACHE_MAX) commTexts.clear();
  commTexts.set(pid, { raw: [w0, w1, w2, w3], text });
  return text;
}

// Addresses repeat endlessly (a busy host talks to few peers): format each
// once. Bounded: cleared when full, so a scan of many addresses costs only speed.
const ADDRESS_CACHE_MAX = 4096;
const v4Text = new Map<number, string>();
const v6Text = new Map<string, string>();

function addressText(buf: Buffer, at: number, rawFamily: number): string {
  if (rawFamily === AF_INET) {
    const key = buf.readUInt32LE(at);
    let text = v4Text.get(key);
    if (text === undefined) {
      if (v4Text.size >= ADDRESS_CACHE_MAX) v4Text.clear();
      v4Text.set(key, (text = formatAddress(buf, at, rawFamily)));
    }
    return text;
  }
  const key = buf.toString('latin1', at, at + 16);
  let text = v6Text.get(key);
  if (text === undefined) {
    if (v6Text.size >= ADDRESS_CACHE_MAX) v6Text.clear();
    v6Text.set(key, (text = formatAddress(buf, at, rawFamily)));
  }
  return text;
}

function familyOf(raw: number): 4 | 6 {
  return raw === AF_INET ? 4 : 6;
}

function checkWhole(buf: Buffer, size: number, what: string): void {
  if (buf.length % size !== 0) {
    throw new Error(`${what}: ${buf.length} bytes is not a whole number of ${size}-byte records`);
  }
}

export function decodeEvent(buf: Buffer, at: number): TransitionEvent {
  const L = EVENT_LAYOUT;
  const rawFamily = buf[at + L.family];
  const source = OWNER_SOURCES[buf[at + L.owner_src]] ?? null;
  const prev = u64(buf, at + L.prev_state_ns);
  const pid = buf.readUInt32LE(at + L.pid);
  return {
    kind: EVENT_KINDS[buf[at + L.kind]] ?? 'transition',
    tsNs: u64(buf, at + L.ts_ns),
    skaddr: skaddrText(buf, at + L.skaddr),
    sockId: u64(buf, at + L.sock_id),
    family: familyOf(rawFamily),
    saddr: addressText(buf, at + L.saddr, rawFamily),
    sport: buf.readUInt16LE(at + L.sport),
    daddr: addressText(buf, at + L.daddr, rawFamily),
    dport: buf.readUInt16LE(at + L.dport),
    netns: buf.readUInt32LE(at + L.netns),
    oldstate: buf[at + L.oldstate],
    newstate: buf[at + L.newstate],
    prevStateNs: prev === 0 ? null : prev,
    pid: source === null ? null : pid,
    comm: source === null ? null : commText(buf, at + L.comm, pid),
    cgroupId: source === null ? null : u64(buf, at + L.cgroup_id) || null,
    ownerSource: source,
    inferred: (buf[at + L.flags] & EVENT_FLAGS.inferred) !== 0,
    txBytes: u64(buf, at + L.tx_bytes),
    rxBytes: u64(buf, at + L.rx_bytes),
    error: buf.readUInt16LE(at + L.sk_err),
    peerFinReceived: buf[at + L.peer_fin] === 1,
    idleNs: u64(buf, at + L.idle_ns) || null,
    reset: RESETS[buf[at + L.reset]] ?? null,
    // Fields, not a spread of a helper's object: this runs for every event.
    resetReason: buf[at + L.reset] === RESET_CODES.sent ? resetReasonName(buf.readUInt16LE(at + L.reset_reason)) : null,
  };
}

/** enum tcptrace_reset by code. */
const RESETS: Record<number, TransitionEvent['reset']> = { [RESET_CODES.received]: 'received', [RESET_CODES.sent]: 'sent' };

/** Every fixed-size record of a batch, in order. */
function decodeEach<T>(batch: Buffer, size: number, what: string, decode: (buf: Buffer, at: number) => T): T[] {
  checkWhole(batch, size, what);
  const out: T[] = new Array(batch.length / size);
  for (let i = 0, at = 0; at < batch.length; i++, at += size) out[i] = decode(batch, at);
  return out;
}

export function decodeEvents(batch: Buffer): TransitionEvent[] {
  return decodeEach(batch, EVENT_LAYOUT.size, 'event batch', decodeEvent);
}

/** The event records of `batch` whose owner passes `keep` (as decodeEvent reads the owner), copied out. */
export function recordsOwnedBy(batch: Buffer, keep: (cgroupId: number | null, pid: number | null) => boolean): Buffer {
  const L = EVENT_LAYOUT;
  checkWhole(batch, L.size, 'event batch');
  const kept: Buffer[] = [];
  for (let at = 0; at < batch.length; at += L.size) {
    const known = (OWNER_SOURCES[batch[at + L.owner_src]] ?? null) !== null;
    const cgroupId = known ? u64(batch, at + L.cgroup_id) || null : null;
    if (keep(cgroupId, known ? batch.readUInt32LE(at + L.pid) : null)) kept.push(batch.subarray(at, at + L.size));
  }
  return Buffer.concat(kept);
}

export function decodeConnection(buf: Buffer, at: number): KernelConnection {
  const L = CONNECTION_LAYOUT, C = CONNECTION_CODES;
  const dwellNs: Record<string, number> = {};
  for (let state = 0; state < DWELL_STATES; state++) {
    const ns = u64(buf, at + L.dwell_ns + 8 * state);
    if (ns) dwellNs[stateName(state)] = ns;
  }
  const role = buf[at + L.role], closedFirst = buf[at + L.closed_first], acked = buf[at + L.acked];
  const openerPid = buf.readUInt32LE(at + L.opener_pid);
  return {
    last: decodeEvent(buf, at + L.last), // kind: KIND_CONNECTION is no event kind: it decodes as 'transition'
    startNs: u64(buf, at + L.start_ns),
    born: buf[at + L.born] === 1,
    dwellNs,
    openedBy: openerPid ? { pid: openerPid, comm: cString(buf, at + L.opener_comm, COMM_LEN) || null } : null,
    role: role === C.client ? 'client' : role === C.server ? 'server' : null,
    closedFirst: closedFirst === C.closedLocal ? 'local' : closedFirst === C.closedRemote ? 'remote' : null,
    synAcked: (acked & C.ackedSyn) !== 0,
    finAcked: (acked & C.ackedFin) !== 0,
  };
}

export function decodeConnections(batch: Buffer): KernelConnection[] {
  return decodeEach(batch, CONNECTION_LAYOUT.size, 'connection batch', decodeConnection);
}

export function decodeTallies(processes: Buffer, peers: Buffer): KernelTallies {
  const P = PROCESS_TALLY_LAYOUT, R = PEER_TALLY_LAYOUT;
  checkWhole(processes, P.size, 'process tallies');
  checkWhole(peers, R.size, 'peer tallies');
  const out: KernelTallies = { processes: [], peers: [] };
  for (let at = 0; at < processes.length; at += P.size) {
    const pid = processes.readUInt32LE(at + P.pid);
    out.processes.push({
      pid, comm: commText(processes, at + P.comm, pid), cgroupId: u64(processes, at + P.cgroup_id) || null,
      transitions: u64(processes, at + P.transitions),
    });
  }
  for (let at = 0; at < peers.length; at += R.size) {
    out.peers.push({ daddr: addressText(peers, at + R.addr, peers[at + R.family]), transitions: u64(peers, at + R.transitions) });
  }
  return out;
}

export function decodeSnapshotSockets(buf: Buffer): SnapshotSocket[] {
  const L = SOCK_REC_LAYOUT;
  checkWhole(buf, L.size, 'socket snapshot');
  const out: SnapshotSocket[] = [];
  for (let at = 0; at < buf.length; at += L.size) {
    const rawFamily = buf[at + L.family];
    const socket: SnapshotSocket = {
      skaddr: hex64(buf, at + L.skaddr),
      sockId: u64(buf, at + L.sock_id),
      family: familyOf(rawFamily),
      saddr: addressText(buf, at + L.saddr, rawFamily),
      sport: buf.readUInt16LE(at + L.sport),
      daddr: addressText(buf, at + L.daddr, rawFamily),
      dport: buf.readUInt16LE(at + L.dport),
      netns: buf.readUInt32LE(at + L.netns),
      uid: buf.readUInt32LE(at + L.uid),
      inode: buf.readUInt32LE(at + L.inode),
      state: buf[at + L.state],
    };
    // Only where they mean something, so other sockets' records stay as they were.
    if (socket.state === TCP.TIME_WAIT) socket.twSubstate = buf[at + L.tw_substate];
    if (socket.state === TCP.LISTEN) {
      socket.acceptQueue = buf.readUInt32LE(at + L.ack_backlog);
      socket.acceptQueueLimit = buf.readUInt32LE(at + L.max_ack_backlog);
      socket.listenDrops = buf.readUInt32LE(at + L.listen_drops);
    }
    if (socket.state === TCP.CLOSE_WAIT && socket.sockId) socket.closeWait = closeWaitFacts(buf, at);
    out.push(socket);
  }
  return out;
}

function closeWaitFacts(buf: Buffer, at: number): CloseWaitFacts {
  const L = SOCK_REC_LAYOUT;
  const known = (ns: number) => (ns === 0 ? null : ns);
  const openerPid = buf.readUInt32LE(at + L.opener_pid);
  return {
    sinceNs: known(u64(buf, at + L.state_since_ns)),
    idleBeforeFinNs: known(u64(buf, at + L.fin_idle_ns)),
    openedBy: openerPid ? { pid: openerPid, comm: cString(buf, at + L.opener_comm, COMM_LEN) || null } : null,
  };
}

export function decodeSnapshotFiles(buf: Buffer): SnapshotFile[] {
  const L = FILE_REC_LAYOUT;
  checkWhole(buf, L.size, 'file snapshot');
  const out: SnapshotFile[] = [];
  for (let at = 0; at < buf.length; at += L.size) {
    out.push({
      skaddr: hex64(buf, at + L.skaddr),
      sockId: u64(buf, at + L.sock_id),
      pid: buf.readUInt32LE(at + L.pid),
      fd: buf.readUInt32LE(at + L.fd),
      comm: cString(buf, at + L.comm, COMM_LEN),
      cgroupId: u64(buf, at + L.cgroup_id),
    });
  }
  return out;
}

/** The kernel gives a file record no socket id (its walk cannot reach the
 *  socket's storage): it is the id of the socket walk's record at that address. */
export function joinSockIds(files: SnapshotFile[], sockets: SnapshotSocket[]): void {
  const idAt = new Map<string, number>();
  for (const s of sockets) if (s.sockId) idAt.set(s.skaddr, s.sockId);
  for (const f of files) f.sockId = idAt.get(f.skaddr) ?? 0;
}

/** enum tcptrace_measure: the durations the kernel counts, one histogram each, in this order. */
export const MEASURE_KINDS = ['connect', 'accept', 'lifetime', 'closeWait', 'finWait2'] as const;
export type MeasureKind = (typeof MEASURE_KINDS)[number];

/** TCPTRACE_HIST_BUCKETS, TCPTRACE_MAX_BOUNDS, and struct tcptrace_aggregates (checked against the addon's by a test). */
export const HIST_BUCKETS = 64;
export const MAX_BOUNDS = 24;
/** TCPTRACE_RESET_REASONS: resets sent are counted per reason code below it, the last slot for the rest. */
export const RESET_REASON_SLOTS = 32;
const HIST_SIZE = (HIST_BUCKETS + 1) * 8;
const TRANSITIONS_SIZE = STATE_COUNT_SLOTS * STATE_COUNT_SLOTS * 8;
const BOUNDED_SIZE = (MAX_BOUNDS + 2) * 8;
const RESETS_AT = MEASURE_KINDS.length * (HIST_SIZE + BOUNDED_SIZE) + TRANSITIONS_SIZE;
export const AGGREGATES_LAYOUT = {
  size: RESETS_AT + (RESET_REASON_SLOTS + 1) * 8,
  hist: 0, histSize: HIST_SIZE, transitions: MEASURE_KINDS.length * HIST_SIZE,
  bounded: MEASURE_KINDS.length * HIST_SIZE + TRANSITIONS_SIZE, boundedSize: BOUNDED_SIZE,
  resetsSent: RESETS_AT, resetsReceived: RESETS_AT + RESET_REASON_SLOTS * 8,
} as const;

/** Counts per log2 bucket of a duration in the run's unit, and the values' sum. */
export interface KernelHistogram {
  buckets: number[];
  sum: number;
}

/** Counts against the fixed bounds given at load: counts[i] holds bounds[i - 1] < ns <= bounds[i], the last one everything above. */
export interface BoundedHistogram {
  counts: number[];
  sumNs: number;
}

/** What the kernel counted since it was loaded, for the transitions that passed the filters. */
export interface KernelAggregates {
  histograms: Record<MeasureKind, KernelHistogram>;
  /** [old][new] state numbers, inferred transitions too. */
  transitions: number[][];
  /** Only meaningful for the measures given bounds (TracerOptions.boundsNs). */
  bounded: Record<MeasureKind, BoundedHistogram>;
  /** RSTs sent, per reason as this kernel names it ("not known" before 6.10), and RSTs received. */
  resetsSent: Record<string, number>;
  resetsReceived: number;
}

export function decodeAggregates(buf: Buffer): KernelAggregates {
  const L = AGGREGATES_LAYOUT;
  if (buf.length !== L.size) throw new Error(`aggregates: ${buf.length} bytes, expected ${L.size}`);
  const words = (at: number, n: number) => Array.from({ length: n }, (_, i) => u64(buf, at + 8 * i));
  const histogram = (i: number): KernelHistogram => {
    const at = L.hist + i * L.histSize;
    return { buckets: words(at, HIST_BUCKETS), sum: u64(buf, at + HIST_BUCKETS * 8) };
  };
  const bounded = (i: number): BoundedHistogram => {
    const at = L.bounded + i * L.boundedSize;
    return { counts: words(at, MAX_BOUNDS + 1), sumNs: u64(buf, at + (MAX_BOUNDS + 1) * 8) };
  };
  const transitions = Array.from({ length: STATE_COUNT_SLOTS },
    (_, old) => words(L.transitions + old * STATE_COUNT_SLOTS * 8, STATE_COUNT_SLOTS));
  const resetsSent: Record<string, number> = {};
  words(L.resetsSent, RESET_REASON_SLOTS).forEach((count, slot) => {
    if (!count) return;
    const name = slot === RESET_REASON_SLOTS - 1 ? 'not known' : resetReasonName(slot) ?? 'not known';
    resetsSent[name] = (resetsSent[name] ?? 0) + count;
  });
  return {
    histograms: perMeasure(histogram), transitions, bounded: perMeasure(bounded),
    resetsSent, resetsReceived: u64(buf, L.resetsReceived),
  };
}

function perMeasure<T>(make: (index: number, kind: MeasureKind) => T): Record<MeasureKind, T> {
  return Object.fromEntries(MEASURE_KINDS.map((kind, i) => [kind, make(i, kind)])) as Record<MeasureKind, T>;
}

/** What was counted between two readings (counters only grow). */
export function aggregatesSince(now: KernelAggregates, before: KernelAggregates): KernelAggregates {
  const minus = (a: number[], b: number[]) => a.map((v, i) => v - b[i]);
  return {
    histograms: perMeasure((_, kind) => ({
      buckets: minus(now.histograms[kind].buckets, before.histograms[kind].buckets),
      sum: now.histograms[kind].sum - before.histograms[kind].sum,
    })),
    transitions: now.transitions.map((row, old) => minus(row, before.transitions[old])),
    bounded: perMeasure((_, kind) => ({
      counts: minus(now.bounded[kind].counts, before.bounded[kind].counts),
      sumNs: now.bounded[kind].sumNs - before.bounded[kind].sumNs,
    })),
    resetsSent: Object.fromEntries(Object.entries(now.resetsSent)
      .map(([reason, n]) => [reason, n - (before.resetsSent[reason] ?? 0)]).filter(([, n]) => n !== 0)),
    resetsReceived: now.resetsReceived - before.resetsReceived,
  };
}

/** A listener now, as count_states finds it: its accept queue and what it has dropped (ListenDrops) since it began. */
export interface ListenerNow {
  skaddr: string;
  family: 4 | 6;
  saddr: string;
  sport: number;
  netns: number;
  acceptQueue: number;
  acceptQueueLimit: number;
  listenDrops: number;
  /** Its owner as the kernel side knows it (the holder at start, or the process that listened). */
  owner: { pid: number; comm: string } | null;
}

/** What count_states writes: each listener as it passes it, then the sockets per state number. */
export function decodeCountedStates(buf: Buffer): { counts: number[]; listeners: ListenerNow[] } {
  const countsAt = buf.length - 4 * STATE_COUNT_SLOTS;
  if (countsAt < 0) throw new Error(`state counts: ${buf.length} bytes, expected at least ${4 * STATE_COUNT_SLOTS}`);
  const counts: number[] = [];
  for (let i = 0; i < STATE_COUNT_SLOTS; i++) counts.push(buf.readUInt32LE(countsAt + i * 4));
  return { counts, listeners: decodeEach(buf.subarray(0, countsAt), LISTENER_REC_LAYOUT.size, 'listener records', decodeListener) };
}

function decodeListener(buf: Buffer, at: number): ListenerNow {
  const L = LISTENER_REC_LAYOUT;
  const rawFamily = buf[at + L.family];
  const pid = buf.readUInt32LE(at + L.owner_pid);
  return {
    skaddr: hex64(buf, at + L.skaddr),
    family: familyOf(rawFamily),
    saddr: addressText(buf, at + L.saddr, rawFamily),
    sport: buf.readUInt16LE(at + L.sport),
    netns: buf.readUInt32LE(at + L.netns),
    acceptQueue: buf.readUInt32LE(at + L.ack_backlog),
    acceptQueueLimit: buf.readUInt32LE(at + L.max_ack_backlog),
    listenDrops: buf.readUInt32LE(at + L.listen_drops),
    owner: pid ? { pid, comm: cString(buf, at + L.owner_comm, COMM_LEN) } : null,
  };
}
