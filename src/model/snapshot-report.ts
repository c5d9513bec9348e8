/**
 * The sockets of one network namespace at one moment, counted: per state as
 * ss counts them, per owning process, per remote peer, per local port, the
 * timewait sockets (which have no owner) per endpoint, and how much of the
 * ephemeral port range each destination uses (TIME_WAIT exhaustion is per
 * destination: a local port can be reused towards another one).
 *
 * Pure: a function of the snapshot and the port range, so it is tested with
 * made-up sockets. One pass over the sockets; fine for hundreds of thousands.
 */
import { formatEndpoint, isLoopback } from '../kernel/addr';
import { Snapshot, SnapshotFile, SnapshotSocket } from '../kernel/decoder';
import { inRange, PortRange, usablePorts } from '../host/settings';
import { SS_STATES, stateName, TCP } from '../kernel/states';

/** State name -> sockets. */
export type StateCounts = Record<string, number>;

export interface Counted {
  sockets: number;
  states: StateCounts;
}

export interface ProcessRow extends Counted {
  pid: number;
  comm: string;
  cmdline: string;
}

/**
 * Sockets no process holds: timewait sockets (the kernel keeps them after
 * close), request sockets (handshake in progress), connections waiting in a
 * listener's accept queue, and other full sockets with no fd (closed by their
 * program and finishing, or held by a process outside this PID namespace,
 * whose file tables the iterator does not walk).
 */
export type NoOwnerKind = 'timewait' | 'request' | 'queued' | 'unheld';

export interface NoOwnerRow extends Counted {
  kind: NoOwnerKind;
}

export interface PeerRow extends Counted {
  addr: string;
}

export interface PortRow extends Counted {
  /** null: the client sockets on ephemeral ports, one row for all of them. */
  port: number | null;
  listening: boolean;
}

/** Which end of the connection this socket is: it connected, or it was accepted. */
export type Side = 'client' | 'server';

/** Timewait sockets with the same ends, the client's port left out (it differs on each). */
export interface TimewaitGroup {
  side: Side;
  /** TIME_WAIT, or FIN_WAIT2 for orphans still waiting for the peer's FIN. */
  state: string;
  saddr: string;
  /** null on the client side: one ephemeral port per socket. */
  sport: number | null;
  daddr: string;
  dport: number | null;
  count: number;
}

export interface DestinationUse {
  /** connect() picks a port per local address and destination: the range is per pair. */
  saddr: string;
  daddr: string;
  dport: number;
  /** Client sockets on ephemeral ports to this destination, TIME_WAIT included. */
  ports: number;
  timeWait: number;
  /** ports / usable ports of the range. */
  share: number;
}

export interface EphemeralUse extends PortRange {
  /** Ports in the range less ip_local_reserved_ports. */
  usable: number;
  /** Distinct local ports in the range held by client sockets, any destination. */
  portsInUse: number;
  destinations: DestinationUse[];
}

export interface ListenerRow {
  saddr: string;
  sport: number;
  pid: number | null;
  comm: string | null;
  /** Connections waiting for accept(), and the queue's limit: min(listen() backlog, net.core.somaxconn). */
  acceptQueue: number;
  acceptQueueLimit: number;
  /** SYNs and handshakes it dropped since it began listening (ListenDrops, mostly a full queue). */
  listenDrops: number;
}

export interface SnapshotReport {
  netns: number | null;
  sockets: number;
  /** Every state ss prints, as ss -tan counts them. */
  states: StateCounts;
  /** Counted in SYN_RECV, as ss does: handshakes the kernel answered without a full socket yet. */
  requestSockets: number;
  /** Timewait sockets (TIME_WAIT, and FIN_WAIT2 orphans), held by the kernel, not a process. */
  timewaitSockets: number;
  byProcess: ProcessRow[];
  noOwner: NoOwnerRow[];
  byPeer: PeerRow[];
  byPort: PortRow[];
  timewait: TimewaitGroup[];
  listeners: ListenerRow[];
  ephemeral: EphemeralUse;
}

export interface SnapshotInput {
  snapshot: Snapshot;
  netns: number | null;
  ephemeral: PortRange;
  reserved: PortRange[];
  cmdlineOf(pid: number, comm: string): string;
  /** Every socket, when `snapshot` is filtered: which end is the service is told from all of them (the listeners). */
  unfiltered?: SnapshotSocket[];
}

/** The state ss -tan shows: a timewait socket's substate; a request socket as SYN_RECV. */
export function ssState(s: SnapshotSocket): number {
  if (s.state === TCP.TIME_WAIT) return s.twSubstate || TCP.TIME_WAIT;
  if (s.state === TCP.NEW_SYN_RECV) return TCP.SYN_RECV;
  return s.state;
}

function emptyStates(): StateCounts {
  return Object.fromEntries(SS_STATES.map((s) => [stateName(s), 0]));
}

function count<K>(rows: Map<K, Counted>, key: K, state: string, make: () => Counted): void {
  let row = rows.get(key);
  if (!row) rows.set(key, (row = make()));
  row.sockets++;
  row.states[state] = (row.states[state] ?? 0) + 1;
}

const bySockets = (a: Counted, b: Counted) => b.sockets - a.sockets;

/**
 * Tells the client end of a connection from the server end without having
 * seen it open: a listener on the local port makes it the server; a local
 * listener at the far end, the client. Else the service is the end that meets
 * many ports at the other end (a server sees one client port per connection;
 * a client port, even one reused towards several destinations, meets only the
 * services' ports). Else a local port in the ephemeral range is the client.
 */
export class SideClassifier {
  private readonly listening = new Set<number>();
  private readonly localAddrs = new Set<string>();
  /** Per local end, the remote ports it meets; per remote end, the local ports. Built when first needed. */
  private ends?: { local: PortSets; remote: PortSets };

  constructor(private readonly sockets: SnapshotSocket[], private readonly ephemeral: PortRange) {
    for (const s of sockets) {
      this.localAddrs.add(s.saddr);
      if (s.state === TCP.LISTEN) this.listening.add(s.sport);
    }
  }

  isListening(port: number): boolean {
    return this.listening.has(port);
  }

  sideOf(s: SnapshotSocket): Side {
    if (this.listening.has(s.sport)) return 'server';
    if (this.listening.has(s.dport) && (this.localAddrs.has(s.daddr) || isLoopback(s.daddr))) return 'client';
    const ends = (this.ends ??= this.countEnds());
    const local = ends.local.size(s.saddr, s.sport);
    const remote = ends.remote.size(s.daddr, s.dport);
    if (local !== remote) return local > remote ? 'server' : 'client';
    return inRange(s.sport, this.ephemeral) ? 'client' : 'server';
  }

  private countEnds(): { local: PortSets; remote: PortSets } {
    const local = new PortSets(), remote = new PortSets();
    for (const s of this.sockets) {
      if (s.state === TCP.LISTEN) continue;
      local.add(s.saddr, s.sport, s.dport);
      remote.add(s.daddr, s.dport, s.sport);
    }
    return { local, remote };
  }
}

/** Per address and port, the distinct ports met; a lone port is kept as a number (most have one). */
class PortSets {
  private readonly byAddr = new Map<string, Map<number, number | Set<number>>>();

  add(addr: string, port: number, met: number): void {
    let ports = this.byAddr.get(addr);
    if (!ports) this.byAddr.set(addr, (ports = new Map()));
    const seen = ports.get(port);
    if (seen === undefined) ports.set(port, met);
    else if (typeof seen === 'number') {
      if (seen !== met) ports.set(port, new Set([seen, met]));
    } else seen.add(met);
  }

  size(addr: string, port: number): number {
    const seen = this.byAddr.get(addr)?.get(port);
    return seen === undefined ? 0 : typeof seen === 'number' ? 1 : seen.size;
  }
}

function isReserved(port: number, reserved: PortRange[]): boolean {
  return reserved.some((r) => inRange(port, r));
}

/**
 * The processes holding each socket, each pid once (a socket shared after
 * fork has several; one dup()ed within a process counts once). Joined on the
 * socket id where the kernel gave both sides one (a number: quick for
 * hundreds of thousands), else on the socket's address.
 */
export class Holders {
  private readonly byId = new Map<number, SnapshotFile[]>();
  private readonly byAddr = new Map<string, SnapshotFile[]>();

  constructor(files: SnapshotFile[]) {
    for (const f of files) {
      if (f.sockId) addHolder(this.byId, f.sockId, f);
      else addHolder(this.byAddr, f.skaddr, f);
    }
  }

  of(s: SnapshotSocket): SnapshotFile[] | undefined {
    const byId = s.sockId ? this.byId.get(s.sockId) : undefined;
    return byId ?? (this.byAddr.size ? this.byAddr.get(s.skaddr) : undefined);
  }
}

function addHolder<K>(map: Map<K, SnapshotFile[]>, key: K, f: SnapshotFile): void {
  const list = map.get(key);
  if (!list) map.set(key, [f]);
  else if (!list.some((g) => g.pid === f.pid)) list.push(f);
}

/** States a connection can be in while it waits for accept(): the peer may have closed already. */
const QUEUED_STATES: ReadonlySet<number> = new Set([TCP.SYN_RECV, TCP.ESTABLISHED, TCP.CLOSE_WAIT]);

function noOwnerKind(s: SnapshotSocket, sides: SideClassifier): NoOwnerKind {
  if (s.state === TCP.TIME_WAIT) return 'timewait';
  if (s.state === TCP.NEW_SYN_RECV) return 'request';
  return QUEUED_STATES.has(s.state) && sides.isListening(s.sport) ? 'queued' : 'unheld';
}

/** What `snapshot` narrows to, as ss does: every list that is set must match (the values in one list are alternatives). */
export interface SocketFilter {
  /** States as ss names them: a timewait socket closed by its program is FIN_WAIT2, a request socket SYN_RECV. */
  states?: number[];
  /** This port at either end. */
  ports?: number[];
  /** This local port, this remote port. */
  sports?: number[];
  dports?: number[];
}

const anyOf = (list: number[] | undefined, ...values: number[]) => !list?.length || values.some((v) => list.includes(v));

/** The sockets the filter keeps, and the files that hold them. */
export function filterSnapshot(snapshot: Snapshot, filter: SocketFilter): Snapshot {
  const sockets = snapshot.sockets.filter((s) => anyOf(filter.states, ssState(s)) && anyOf(filter.ports, s.sport, s.dport) &&
    anyOf(filter.sports, s.sport) && anyOf(filter.dports, s.dport));
  if (sockets.length === snapshot.sockets.length) return snapshot;
  const kept = new Set(sockets.map((s) => s.skaddr));
  return { sockets, files: snapshot.files.filter((f) => kept.has(f.skaddr)) };
}

export function buildSnapshotReport(input: SnapshotInput): SnapshotReport {
  const { sockets, files } = input.snapshot;
  const sides = new SideClassifier(input.unfiltered ?? sockets, input.ephemeral);
  const holders = new Holders(files);
  const states = emptyStates();
  const processes = new Map<number, Counted>(), noOwner = new Map<NoOwnerKind, Counted>();
  const peers = new Map<string, Counted>(), ports = new Map<number | null, Counted>();
  const timewait = new EndGroups<TimewaitGroup>(), destinations = new EndGroups<DestinationUse>();
  const portsInUse = new Set<number>();
  let requestSockets = 0, timewaitSockets = 0;
  const fresh = (): Counted => ({ sockets: 0, states: {} });

  for (const s of sockets) {
    const state = stateName(ssState(s));
    states[state] = (states[state] ?? 0) + 1;
    if (s.state === TCP.NEW_SYN_RECV) requestSockets++;
    if (s.state === TCP.TIME_WAIT) timewaitSockets++;

    const held = holders.of(s);
    if (held) for (const f of held) count(processes, f.pid, state, fresh);
    else count(noOwner, noOwnerKind(s, sides), state, fresh);

    if (s.state === TCP.LISTEN) {
      count(ports, s.sport, state, fresh);
      continue;
    }
    count(peers, s.daddr, state, fresh);
    const side = sides.sideOf(s);
    const ephemeralPort = side === 'client' && inRange(s.sport, input.ephemeral) && !isReserved(s.sport, input.reserved);
    count(ports, ephemeralPort ? null : s.sport, state, fresh);
    if (ephemeralPort) {
      portsInUse.add(s.sport);
      useDestination(destinations, s);
    }
    if (s.state === TCP.TIME_WAIT) addTimewait(timewait, s, side, state);
  }

  const usable = usablePorts(input.ephemeral, input.reserved);
  for (const d of destinations.all) d.share = usable ? d.ports / usable : 1;
  const cmdlines = new Map(files.filter((f) => f.cmdline).map((f) => [f.pid, f.cmdline!]));
  const comms = new Map(files.map((f) => [f.pid, f.comm]));
  return {
    netns: input.netns,
    sockets: sockets.length,
    states,
    requestSockets,
    timewaitSockets,
    byProcess: [...processes].map(([pid, c]) => {
      const comm = comms.get(pid) ?? '';
      return { pid, comm, cmdline: cmdlines.get(pid) ?? input.cmdlineOf(pid, comm), ...c };
    }).sort((a, b) => bySockets(a, b) || a.pid - b.pid),
    noOwner: [...noOwner].map(([kind, c]) => ({ kind, ...c })).sort(bySockets),
    byPeer: [...peers].map(([addr, c]) => ({ addr, ...c })).sort(bySockets),
    byPort: [...ports].map(([port, c]) => ({ port, listening: port !== null && sides.isListening(port), ...c }))
      .sort((a, b) => bySockets(a, b) || (a.port ?? 0) - (b.port ?? 0)),
    timewait: [...timewait.all].sort((a, b) => b.count - a.count),
    listeners: listenersOf(sockets, holders),
    ephemeral: {
      ...input.ephemeral, usable, portsInUse: portsInUse.size,
      destinations: [...destinations.all].sort((a, b) => b.ports - a.ports),
    },
  };
}

/** Every listener with its accept queue and the process holding it. */
export function listenersOf(sockets: SnapshotSocket[], holders: Holders): ListenerRow[] {
  return sockets.filter((s) => s.state === TCP.LISTEN).map((s) => {
    const held = holders.of(s)?.[0];
    return {
      saddr: s.saddr, sport: s.sport, pid: held?.pid ?? null, comm: held?.comm ?? null,
      acceptQueue: s.acceptQueue ?? 0, acceptQueueLimit: s.acceptQueueLimit ?? 0, listenDrops: s.listenDrops ?? 0,
    };
  }).sort((a, b) => a.sport - b.sport || a.saddr.localeCompare(b.saddr));
}

function useDestination(destinations: EndGroups<DestinationUse>, s: SnapshotSocket): void {
  let d = destinations.find('', s.saddr, s.daddr, s.dport);
  if (!d) destinations.add('', s.saddr, s.daddr, s.dport, (d = { saddr: s.saddr, daddr: s.daddr, dport: s.dport, ports: 0, timeWait: 0, share: 0 }));
  d.ports++;
  if (s.state === TCP.TIME_WAIT) d.timeWait++;
}

const GROUP_LABELS: Record<Side, Record<string, string>> = { client: {}, server: {} };

function addTimewait(groups: EndGroups<TimewaitGroup>, s: SnapshotSocket, side: Side, state: string): void {
  const label = (GROUP_LABELS[side][state] ??= `${side} ${state}`);
  const port = side === 'client' ? s.dport : s.sport;
  let g = groups.find(label, s.saddr, s.daddr, port);
  if (!g) {
    g = { side, state, saddr: s.saddr, sport: side === 'client' ? null : s.sport, daddr: s.daddr, dport: side === 'client' ? s.dport : null, count: 0 };
    groups.add(label, s.saddr, s.daddr, port, g);
  }
  g.count++;
}

/**
 * Groups keyed by a label, two addresses and a port, found without building
 * a key string for every socket (which, for 100,000 sockets, was most of the
 * garbage to collect).
 */
class EndGroups<T> {
  private readonly root = new Map<string, Map<string, Map<string, Map<number, T>>>>();
  readonly all: T[] = [];

  find(label: string, a: string, b: string, port: number): T | undefined {
    return this.root.get(label)?.get(a)?.get(b)?.get(port);
  }

  add(label: string, a: string, b: string, port: number, value: T): void {
    const byA = inner(this.root, label), byB = inner(byA, a), byPort = inner(byB, b);
    byPort.set(port, value);
    this.all.push(value);
  }
}

function inner<K, V extends Map<unknown, unknown>>(map: Map<K, V>, key: K): V {
  let value = map.get(key);
  if (!value) map.set(key, (value = new Map() as V));
  return value;
}

/** "127.0.0.1:*" for a port left out. */
export function endpointText(addr: string, port: number | null): string {
  return port === null ? formatEndpoint(addr, 0).replace(/:0$/, ':*') : formatEndpoint(addr, port);
}

/** One network namespace of the host in a snapshot of every one: its sockets by state, and who holds them. */
export interface NamespaceRow extends Counted {
  netns: number;
  /** What names it: its `ip netns` name, "pod NAME" or "container ID" (netnsLabel); null where nothing does. */
  name: string | null;
  /** The commands holding its sockets, the most sockets first (a pod's or a container's programs). */
  holders: string[];
}

/** The snapshot split by network namespace: `own` (tcptrace's), and one row per other, most sockets first. */
export function splitByNamespace(snapshot: Snapshot, own: number | null, nameOf: (netns: number) => string | null): { own: Snapshot; others: NamespaceRow[] } {
  if (own === null) return { own: snapshot, others: [] };
  const netnsOf = new Map(snapshot.sockets.map((s) => [s.skaddr, s.netns]));
  // A file whose socket no walk listed (not hashed: unconnected) stays with tcptrace's own, as before.
  const mine = (netns: number | undefined) => netns === undefined || netns === own;
  const rows = new Map<number, NamespaceRow & { byComm: Map<string, number> }>();
  for (const s of snapshot.sockets) {
    if (mine(s.netns)) continue;
    let row = rows.get(s.netns);
    if (!row) rows.set(s.netns, (row = { netns: s.netns, name: nameOf(s.netns), sockets: 0, states: emptyStates(), holders: [], byComm: new Map() }));
    row.sockets++;
    const state = stateName(ssState(s));
    row.states[state] = (row.states[state] ?? 0) + 1;
  }
  for (const f of snapshot.files) {
    const netns = netnsOf.get(f.skaddr);
    const row = netns === undefined ? undefined : rows.get(netns);
    if (row) row.byComm.set(f.comm, (row.byComm.get(f.comm) ?? 0) + 1);
  }
  const others = [...rows.values()].map(({ byComm, ...row }) => ({
    ...row, holders: [...byComm].sort((a, b) => b[1] - a[1]).map(([comm]) => comm),
  })).sort((a, b) => b.sockets - a.sockets || a.netns - b.netns);
  return {
    own: { sockets: snapshot.sockets.filter((s) => mine(s.netns)), files: snapshot.files.filter((f) => mine(netnsOf.get(f.skaddr))) },
    others,
  };
}
