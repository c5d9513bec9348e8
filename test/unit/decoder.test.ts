import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AGGREGATES_LAYOUT, aggregatesSince, RESET_CODES, RESET_REASON_SLOTS, useResetReasonNames, decodeTallies, PEER_TALLY_LAYOUT, PROCESS_TALLY_LAYOUT, CONNECTION_CODES, CONNECTION_LAYOUT, decodeConnections, DWELL_STATES, decodeAggregates, HIST_BUCKETS, MAX_BOUNDS, MEASURE_KINDS, COMM_LEN, DEFAULT_RING_BYTES, decodeEvents, EVENT_FLAGS, EVENT_KINDS, decodeSnapshotFiles, decodeSnapshotSockets, decodeCountedStates, LISTENER_REC_LAYOUT,
  EVENT_LAYOUT, FILE_REC_LAYOUT, OWNER_SOURCES, SOCK_REC_LAYOUT, STATE_COUNT_SLOTS, TransitionEvent,
} from '../../src/kernel/decoder';
import { loadNative } from '../../src/kernel/native';
import { AF_INET, AF_INET6, TCP } from '../../src/kernel/states';

// ---- building records by the layout tables --------------------------------

type Addr = number[]; // 4 bytes (IPv4) or 16 bytes (IPv6), network order

const ipv4 = (a: number, b: number, c: number, d: number): Addr => [a, b, c, d];
const ipv6 = (...groups: number[]): Addr => groups.flatMap((g) => [g >> 8, g & 0xff]);

function putU64(buf: Buffer, at: number, value: bigint): void {
  buf.writeBigUInt64LE(value, at);
}

function putAddr(buf: Buffer, at: number, addr: Addr): void {
  Buffer.from(addr).copy(buf, at);
}

/** Writes `comm` raw: a string gets no terminator added beyond the zeroed record. */
function putComm(buf: Buffer, at: number, comm: string | Buffer): void {
  const bytes = typeof comm === 'string' ? Buffer.from(comm, 'latin1') : comm;
  assert.ok(bytes.length <= COMM_LEN, 'test comm longer than the field');
  bytes.copy(buf, at);
}

interface RawEvent {
  ts: bigint; skaddr: bigint; sockId: bigint; prevNs: bigint;
  saddr: Addr; daddr: Addr; netns: number; pid: number; sport: number; dport: number;
  family: number; oldstate: number; newstate: number; ownerSrc: number; comm: string | Buffer;
  flags?: number; kind?: number; peerFin?: number; err?: number; tx?: bigint; rx?: bigint;
  cgroup?: bigint;
}

function eventRecord(r: RawEvent): Buffer {
  const L = EVENT_LAYOUT;
  const buf = Buffer.alloc(L.size);
  putU64(buf, L.ts_ns, r.ts);
  putU64(buf, L.skaddr, r.skaddr);
  putU64(buf, L.sock_id, r.sockId);
  putU64(buf, L.prev_state_ns, r.prevNs);
  putAddr(buf, L.saddr, r.saddr);
  putAddr(buf, L.daddr, r.daddr);
  buf.writeUInt32LE(r.netns, L.netns);
  buf.writeUInt32LE(r.pid, L.pid);
  buf.writeUInt16LE(r.sport, L.sport);
  buf.writeUInt16LE(r.dport, L.dport);
  buf[L.family] = r.family;
  buf[L.oldstate] = r.oldstate;
  buf[L.newstate] = r.newstate;
  buf[L.owner_src] = r.ownerSrc;
  putComm(buf, L.comm, r.comm);
  buf[L.flags] = r.flags ?? 0;
  buf[L.kind] = r.kind ?? 0;
  buf[L.peer_fin] = r.peerFin ?? 0;
  buf.writeUInt16LE(r.err ?? 0, L.sk_err);
  putU64(buf, L.tx_bytes, r.tx ?? 0n);
  putU64(buf, L.rx_bytes, r.rx ?? 0n);
  putU64(buf, L.cgroup_id, r.cgroup ?? 0n);
  return buf;
}

const V4_EVENT: RawEvent = {
  ts: 5_000_123_456_789n, // > 2^32
  skaddr: 0xffff88810a879380n,
  sockId: 0x1_0000_0007n, // > 2^32
  prevNs: 1_234_567n,
  saddr: ipv4(10, 0, 0, 1),
  daddr: ipv4(192, 168, 1, 20),
  netns: 4026531840, // > 2^31: read unsigned
  pid: 4321,
  sport: 43210,
  dport: 443,
  family: AF_INET,
  oldstate: TCP.ESTABLISHED,
  newstate: TCP.CLOSE_WAIT,
  ownerSrc: 1,
  comm: Buffer.from('curl\0stale-bytes'), // comm ends at the NUL
  cgroup: 0x1_0000_2345n, // > 2^32
};

const V6_EVENT: RawEvent = {
  ts: 0xffff_ffff_ffffn, // 2^48 - 1
  skaddr: 0xffff9c3e00000040n,
  sockId: 3n,
  prevNs: 0n, // not known
  saddr: ipv6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
  daddr: ipv6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001),
  netns: 4026532008,
  pid: 77,
  sport: 8080,
  dport: 65535,
  family: AF_INET6,
  oldstate: TCP.SYN_RECV,
  newstate: TCP.ESTABLISHED,
  ownerSrc: 4,
  comm: 'abcdefghijklmnop', // all 16 bytes, no NUL
};

const V4_DECODED: TransitionEvent = {
  tsNs: 5_000_123_456_789,
  skaddr: 'ffff88810a879380',
  sockId: 4294967303,
  family: 4,
  saddr: '10.0.0.1',
  sport: 43210,
  daddr: '192.168.1.20',
  dport: 443,
  netns: 4026531840,
  oldstate: TCP.ESTABLISHED,
  newstate: TCP.CLOSE_WAIT,
  prevStateNs: 1_234_567,
  pid: 4321,
  comm: 'curl',
  cgroupId: 0x1_0000_2345,
  ownerSource: 'syscall',
  inferred: false,
  kind: 'transition',
  txBytes: 0,
  rxBytes: 0,
  error: 0,
  peerFinReceived: false,
  idleNs: null,
  reset: null,
  resetReason: null,
};

const V6_DECODED: TransitionEvent = {
  tsNs: 281474976710655,
  skaddr: 'ffff9c3e00000040',
  sockId: 3,
  family: 6,
  saddr: '2001:db8::1',
  sport: 8080,
  daddr: '::ffff:127.0.0.1',
  dport: 65535,
  netns: 4026532008,
  oldstate: TCP.SYN_RECV,
  newstate: TCP.ESTABLISHED,
  prevStateNs: null,
  pid: 77,
  comm: 'abcdefghijklmnop',
  cgroupId: null, // 0: not known
  ownerSource: 'snapshot',
  inferred: false,
  kind: 'transition',
  txBytes: 0,
  rxBytes: 0,
  error: 0,
  peerFinReceived: false,
  idleNs: null,
  reset: null,
  resetReason: null,
};

// ---- the layout tables against the addon's compiler -----------------------

function assertSameLayout(name: string, native: Record<string, number>, ts: Record<string, number>): void {
  for (const [key, offset] of Object.entries(native)) {
    assert.ok(key in ts, `${name}.${key} is in the addon's layout but not in the TypeScript table`);
    assert.equal(ts[key], offset, `${name}.${key}: TypeScript says ${ts[key]}, the addon says ${offset}`);
  }
  for (const key of Object.keys(ts)) {
    assert.ok(key in native, `${name}.${key} is in the TypeScript table but not in the addon's layout`);
  }
}

test('EVENT_LAYOUT matches the addon', () => {
  assertSameLayout('event', loadNative().layout.event, EVENT_LAYOUT);
});

test('SOCK_REC_LAYOUT matches the addon', () => {
  assertSameLayout('sockRec', loadNative().layout.sockRec, SOCK_REC_LAYOUT);
});

test('LISTENER_REC_LAYOUT matches the addon', () => {
  assertSameLayout('listenerRec', loadNative().layout.listenerRec, LISTENER_REC_LAYOUT);
});

test('FILE_REC_LAYOUT matches the addon', () => {
  assertSameLayout('fileRec', loadNative().layout.fileRec, FILE_REC_LAYOUT);
});

test('CONNECTION_LAYOUT, DWELL_STATES and CONNECTION_CODES match the addon', () => {
  const { dwellStates, ...offsets } = loadNative().layout.connection;
  assertSameLayout('connection', offsets, CONNECTION_LAYOUT);
  assert.equal(dwellStates, DWELL_STATES);
  assert.equal(CONNECTION_LAYOUT.opener_pid - CONNECTION_LAYOUT.dwell_ns, 8 * DWELL_STATES);
  assert.equal(CONNECTION_LAYOUT.size - CONNECTION_LAYOUT.opener_comm, COMM_LEN);
  assert.deepEqual(loadNative().layout.connectionCodes, { ...CONNECTION_CODES });
});

test('PROCESS_TALLY_LAYOUT and PEER_TALLY_LAYOUT match the addon', () => {
  assertSameLayout('processTally', loadNative().layout.processTally, PROCESS_TALLY_LAYOUT);
  assertSameLayout('peerTally', loadNative().layout.peerTally, PEER_TALLY_LAYOUT);
});

test('tallies decode: an owner with its name and cgroup, a peer of either family', () => {
  const P = PROCESS_TALLY_LAYOUT, R = PEER_TALLY_LAYOUT;
  const process = Buffer.alloc(P.size);
  process.writeUInt32LE(4321, P.pid);
  putU64(process, P.transitions, 0x1_0000_0002n);
  putU64(process, P.cgroup_id, 77n);
  putComm(process, P.comm, 'nginx');
  const peers = Buffer.alloc(2 * R.size);
  putAddr(peers, R.addr, ipv4(10, 0, 0, 9));
  peers[R.family] = AF_INET;
  putU64(peers, R.transitions, 5n);
  putAddr(peers, R.size + R.addr, ipv6(0xfe80, 0, 0, 0, 0, 0, 0, 1));
  peers[R.size + R.family] = AF_INET6;
  putU64(peers, R.size + R.transitions, 6n);
  assert.deepEqual(decodeTallies(process, peers), {
    processes: [{ pid: 4321, comm: 'nginx', cgroupId: 77, transitions: 2 ** 32 + 2 }],
    peers: [{ daddr: '10.0.0.9', transitions: 5 }, { daddr: 'fe80::1', transitions: 6 }],
  });
  assert.throws(() => decodeTallies(Buffer.alloc(P.size - 1), Buffer.alloc(0)), /process tallies/);
});

test('comm fields are COMM_LEN bytes and the state counts STATE_COUNT_SLOTS u32s', () => {
  const { layout } = loadNative();
  assert.equal(layout.event.flags - layout.event.comm, COMM_LEN);
  assert.equal(layout.fileRec.cgroup_id - layout.fileRec.comm, COMM_LEN);
  assert.equal(layout.stateCountsSize, 4 * STATE_COUNT_SLOTS);
});

test('AGGREGATES_LAYOUT, HIST_BUCKETS and MEASURE_KINDS match the addon', () => {
  const native = loadNative().layout.aggregates;
  assert.deepEqual(
    {
      size: native.size, hist: native.hist, histSize: native.histSize, transitions: native.transitions,
      bounded: native.bounded, boundedSize: native.boundedSize, resetsSent: native.resets_sent, resetsReceived: native.resets_received,
    },
    { ...AGGREGATES_LAYOUT },
  );
  assert.equal(native.resetReasons, RESET_REASON_SLOTS);
  assert.deepEqual(loadNative().layout.resets, { ...RESET_CODES });
  assert.equal(native.buckets, HIST_BUCKETS);
  assert.equal(native.maxBounds, MAX_BOUNDS);
  assert.equal(native.measures, MEASURE_KINDS.length);
});

test('decodeAggregates reads each histogram and the transition matrix; aggregatesSince subtracts them', () => {
  const L = AGGREGATES_LAYOUT;
  const buf = Buffer.alloc(L.size);
  const at = (kind: number, bucket: number) => L.hist + kind * L.histSize + bucket * 8;
  buf.writeBigUInt64LE(3n, at(0, 4)); // connect: 3 in 16..31
  buf.writeBigUInt64LE(60n, at(0, HIST_BUCKETS)); // connect: sum
  buf.writeBigUInt64LE(2n ** 40n, at(4, 63)); // finWait2: the last bucket
  buf.writeBigUInt64LE(7n, L.transitions + (TCP.ESTABLISHED * STATE_COUNT_SLOTS + TCP.CLOSE_WAIT) * 8);
  const a = decodeAggregates(buf);
  assert.equal(a.histograms.connect.buckets[4], 3);
  assert.equal(a.histograms.connect.sum, 60);
  assert.equal(a.histograms.finWait2.buckets[63], 2 ** 40);
  assert.equal(a.histograms.accept.buckets.reduce((x, y) => x + y, 0), 0);
  assert.equal(a.transitions[TCP.ESTABLISHED][TCP.CLOSE_WAIT], 7);
  buf.writeBigUInt64LE(4n, L.bounded + 3 * L.boundedSize + 2 * 8); // closeWait: 4 under its third bound
  buf.writeBigUInt64LE(9n, L.bounded + 3 * L.boundedSize + (MAX_BOUNDS + 1) * 8); // closeWait: sum
  const b = decodeAggregates(buf).bounded.closeWait;
  assert.deepEqual([b.counts.length, b.counts[2], b.sumNs], [MAX_BOUNDS + 1, 4, 9]);
  const since = aggregatesSince(a, { ...a, histograms: { ...a.histograms, connect: { buckets: a.histograms.connect.buckets.map((n) => n && n - 1), sum: 40 } } });
  assert.deepEqual([since.histograms.connect.buckets[4], since.histograms.connect.sum, since.transitions[TCP.ESTABLISHED][TCP.CLOSE_WAIT]], [1, 20, 0]);
  assert.throws(() => decodeAggregates(Buffer.alloc(8)), /aggregates: 8 bytes/);
});

test('DEFAULT_RING_BYTES is the header\'s', () => {
  assert.equal(loadNative().layout.defaultRingBytes, DEFAULT_RING_BYTES);
});

test('OWNER_SOURCES indices match enum tcptrace_owner_src', () => {
  const native = loadNative().layout.ownerSource;
  const expected = { none: null, syscall: 'syscall', cached: 'cached', listener: 'listener', snapshot: 'snapshot' };
  assert.deepEqual(Object.keys(native).sort(), Object.keys(expected).sort());
  for (const [name, value] of Object.entries(expected)) {
    const index = native[name as keyof typeof native];
    assert.equal(OWNER_SOURCES[index], value, `owner source ${name} (${index})`);
  }
  assert.equal(OWNER_SOURCES.length, Object.keys(native).length);
});

// ---- decodeEvents --------------------------------------------------------

test('decodeEvents decodes an IPv4 and an IPv6 record field by field', () => {
  const events = decodeEvents(Buffer.concat([eventRecord(V4_EVENT), eventRecord(V6_EVENT)]));
  assert.equal(events.length, 2);
  assert.deepEqual(events[0], V4_DECODED);
  assert.deepEqual(events[1], V6_DECODED);
});

test('a 16-byte comm with no NUL ends at the field, not in the next record', () => {
  const events = decodeEvents(Buffer.concat([eventRecord(V6_EVENT), eventRecord(V4_EVENT)]));
  assert.deepEqual(events, [V6_DECODED, V4_DECODED]);
});

test('owner source 0: pid and comm are null whatever the record holds', () => {
  const [e] = decodeEvents(eventRecord({ ...V4_EVENT, ownerSrc: 0, pid: 999, comm: 'ghost' }));
  assert.equal(e.ownerSource, null);
  assert.equal(e.pid, null);
  assert.equal(e.comm, null);
});

test('every owner source index decodes to its name; unknown ones to null', () => {
  const names = [0, 1, 2, 3, 4, 5, 255].map((ownerSrc) => decodeEvents(eventRecord({ ...V4_EVENT, ownerSrc }))[0].ownerSource);
  assert.deepEqual(names, [null, 'syscall', 'cached', 'listener', 'snapshot', null, null]);
});

test('an empty comm with a known owner is the empty string', () => {
  const [e] = decodeEvents(eventRecord({ ...V4_EVENT, comm: '' }));
  assert.equal(e.comm, '');
  assert.equal(e.pid, 4321);
});

test('skaddr keeps the leading zeros of its low half', () => {
  const [e] = decodeEvents(eventRecord({ ...V4_EVENT, skaddr: 0xffff888100000abcn }));
  assert.equal(e.skaddr, 'ffff888100000abc');
  const [small] = decodeEvents(eventRecord({ ...V4_EVENT, skaddr: 0x12345678n }));
  assert.equal(small.skaddr, '12345678');
});

test('a process renamed between events (exec) is decoded by its new name', () => {
  const before = eventRecord({ ...V4_EVENT, comm: 'bash' });
  const after = eventRecord({ ...V4_EVENT, comm: 'curl' });
  const names = decodeEvents(Buffer.concat([before, before, after, before])).map((e) => e.comm);
  assert.deepEqual(names, ['bash', 'bash', 'curl', 'bash']);
});

test('socket addresses seen again decode the same, and distinct ones stay distinct', () => {
  const skaddrs = [0xffff88810a879380n, 0xffff88810a879380n, 0xffff98810a879380n, 0x00000001_0a879380n];
  const batch = Buffer.concat(skaddrs.map((skaddr) => eventRecord({ ...V4_EVENT, skaddr })));
  assert.deepEqual(decodeEvents(batch).map((e) => e.skaddr),
    ['ffff88810a879380', 'ffff88810a879380', 'ffff98810a879380', '10a879380']);
});

test('an empty batch is no events', () => {
  assert.deepEqual(decodeEvents(Buffer.alloc(0)), []);
});

test('a batch that is not a whole number of records throws', () => {
  for (const length of [1, 95, 97, 100, 191]) {
    assert.throws(() => decodeEvents(Buffer.alloc(length)), {
      message: `event batch: ${length} bytes is not a whole number of ${EVENT_LAYOUT.size}-byte records`,
    });
  }
});

// ---- snapshot records and state counts --------------------------------------

interface RawSock {
  skaddr: bigint; sockId: bigint; saddr: Addr; daddr: Addr; netns: number; uid: number;
  inode: number; sport: number; dport: number; family: number; state: number;
  twSubstate?: number; ackBacklog?: number; maxAckBacklog?: number; listenDrops?: number;
}

function sockRecord(r: RawSock): Buffer {
  const L = SOCK_REC_LAYOUT;
  const buf = Buffer.alloc(L.size, 0);
  putU64(buf, L.skaddr, r.skaddr);
  putU64(buf, L.sock_id, r.sockId);
  putAddr(buf, L.saddr, r.saddr);
  putAddr(buf, L.daddr, r.daddr);
  buf.writeUInt32LE(r.netns, L.netns);
  buf.writeUInt32LE(r.uid, L.uid);
  buf.writeUInt32LE(r.inode, L.inode);
  buf.writeUInt16LE(r.sport, L.sport);
  buf.writeUInt16LE(r.dport, L.dport);
  buf[L.family] = r.family;
  buf[L.state] = r.state;
  buf.fill(0xaa, L.state + 1); // padding, and fields of other states: must be ignored
  buf[L.tw_substate] = r.twSubstate ?? 0xaa;
  if (r.ackBacklog !== undefined) buf.writeUInt32LE(r.ackBacklog, L.ack_backlog);
  if (r.maxAckBacklog !== undefined) buf.writeUInt32LE(r.maxAckBacklog, L.max_ack_backlog);
  if (r.listenDrops !== undefined) buf.writeUInt32LE(r.listenDrops, L.listen_drops);
  return buf;
}

function fileRecord(skaddr: bigint, sockId: bigint, pid: number, fd: number, comm: string, cgroup = 0n): Buffer {
  const L = FILE_REC_LAYOUT;
  const buf = Buffer.alloc(L.size);
  putU64(buf, L.skaddr, skaddr);
  putU64(buf, L.sock_id, sockId);
  buf.writeUInt32LE(pid, L.pid);
  buf.writeUInt32LE(fd, L.fd);
  putComm(buf, L.comm, comm);
  putU64(buf, L.cgroup_id, cgroup);
  return buf;
}

test('decodeSnapshotSockets decodes IPv4 and IPv6 records', () => {
  const buf = Buffer.concat([
    sockRecord({
      skaddr: 0xffff88810a879380n, sockId: 0x2_0000_0001n, saddr: ipv4(127, 0, 0, 1), daddr: ipv4(127, 0, 0, 1),
      netns: 4026531840, uid: 1000, inode: 3_000_000_000, sport: 5432, dport: 51000, family: AF_INET, state: TCP.ESTABLISHED,
    }),
    sockRecord({
      skaddr: 0xffff8881000000f0n, sockId: 0n, saddr: ipv6(0xfe80, 0, 0, 0, 0, 0, 0, 1), daddr: ipv6(0, 0, 0, 0, 0, 0, 0, 0),
      netns: 4026532008, uid: 0, inode: 0, sport: 22, dport: 0, family: AF_INET6, state: TCP.TIME_WAIT,
      twSubstate: TCP.FIN_WAIT2,
    }),
    sockRecord({
      skaddr: 0xffff888100000100n, sockId: 7n, saddr: ipv4(0, 0, 0, 0), daddr: ipv4(0, 0, 0, 0),
      netns: 4026531840, uid: 0, inode: 99, sport: 8080, dport: 0, family: AF_INET, state: TCP.LISTEN,
      ackBacklog: 129, maxAckBacklog: 128, listenDrops: 57,
    }),
  ]);
  assert.deepEqual(decodeSnapshotSockets(buf), [
    {
      skaddr: 'ffff88810a879380', sockId: 8589934593, family: 4, saddr: '127.0.0.1', sport: 5432,
      daddr: '127.0.0.1', dport: 51000, netns: 4026531840, uid: 1000, inode: 3_000_000_000, state: TCP.ESTABLISHED,
    },
    {
      skaddr: 'ffff8881000000f0', sockId: 0, family: 6, saddr: 'fe80::1', sport: 22,
      daddr: '::', dport: 0, netns: 4026532008, uid: 0, inode: 0, state: TCP.TIME_WAIT, twSubstate: TCP.FIN_WAIT2,
    },
    {
      skaddr: 'ffff888100000100', sockId: 7, family: 4, saddr: '0.0.0.0', sport: 8080, daddr: '0.0.0.0', dport: 0,
      netns: 4026531840, uid: 0, inode: 99, state: TCP.LISTEN, acceptQueue: 129, acceptQueueLimit: 128, listenDrops: 57,
    },
  ]);
});

test('a tracked socket in CLOSE_WAIT carries what the kernel side kept; 0 means not seen; an untracked one carries nothing', () => {
  const L = SOCK_REC_LAYOUT;
  const closeWait = (sockId: bigint, since: bigint, idle: bigint, opener: number, comm: string) => {
    const buf = sockRecord({
      skaddr: 0xffff888100000200n, sockId, saddr: ipv4(127, 0, 0, 1), daddr: ipv4(127, 0, 0, 1),
      netns: 1, uid: 0, inode: 5, sport: 40000, dport: 8080, family: AF_INET, state: TCP.CLOSE_WAIT,
    });
    buf.writeUInt32LE(opener, L.opener_pid);
    putU64(buf, L.state_since_ns, since);
    putU64(buf, L.fin_idle_ns, idle);
    buf.fill(0, L.opener_comm, L.opener_comm + COMM_LEN);
    putComm(buf, L.opener_comm, comm);
    return buf;
  };
  const [seen, before, untracked] = decodeSnapshotSockets(Buffer.concat([
    closeWait(9n, 5_000_000_000n, 2_000_000n, 321, 'pool'), closeWait(10n, 0n, 0n, 0, ''), closeWait(0n, 1n, 1n, 1, 'x'),
  ]));
  assert.deepEqual(seen.closeWait, { sinceNs: 5_000_000_000, idleBeforeFinNs: 2_000_000, openedBy: { pid: 321, comm: 'pool' } });
  assert.deepEqual(before.closeWait, { sinceNs: null, idleBeforeFinNs: null, openedBy: null });
  assert.equal(untracked.closeWait, undefined);
});

test('decodeSnapshotFiles decodes records, comm with and without a NUL', () => {
  const buf = Buffer.concat([
    fileRecord(0xffff88810a879380n, 0x1_0000_0000n, 1234, 3, 'nginx', 7263n),
    fileRecord(0xffff888100000001n, 0n, 4_194_304, 4096, 'sixteen-chars-xx'),
  ]);
  assert.deepEqual(decodeSnapshotFiles(buf), [
    { skaddr: 'ffff88810a879380', sockId: 4294967296, pid: 1234, fd: 3, comm: 'nginx', cgroupId: 7263 },
    { skaddr: 'ffff888100000001', sockId: 0, pid: 4_194_304, fd: 4096, comm: 'sixteen-chars-xx', cgroupId: 0 },
  ]);
});

test('snapshot decoders reject partial records', () => {
  assert.throws(() => decodeSnapshotSockets(Buffer.alloc(SOCK_REC_LAYOUT.size + 8)), new RegExp(`socket snapshot: ${SOCK_REC_LAYOUT.size + 8} bytes`));
  assert.throws(() => decodeSnapshotFiles(Buffer.alloc(FILE_REC_LAYOUT.size - 1)), /file snapshot: 47 bytes/);
  assert.deepEqual(decodeSnapshotSockets(Buffer.alloc(0)), []);
  assert.deepEqual(decodeSnapshotFiles(Buffer.alloc(0)), []);
});

test('decodeCountedStates: the listeners as the walk passed them, then 16 little-endian u32 state slots', () => {
  const expected = Array.from({ length: STATE_COUNT_SLOTS }, (_, i) => i * 1000 + i);
  expected[TCP.TIME_WAIT] = 70_000;
  expected[15] = 0xffff_ffff;
  const counts = Buffer.alloc(4 * STATE_COUNT_SLOTS);
  expected.forEach((n, i) => counts.writeUInt32LE(n, 4 * i));
  assert.deepEqual(decodeCountedStates(counts), { counts: expected, listeners: [] });

  const L = LISTENER_REC_LAYOUT;
  const listener = (family: number, port: number, owner?: [number, string]) => {
    const b = Buffer.alloc(L.size);
    b.writeBigUInt64LE(0xffff888812345678n, L.skaddr);
    if (family === 2) Buffer.from([127, 0, 0, 1]).copy(b, L.saddr);
    b.writeUInt32LE(4026532321, L.netns);
    b.writeUInt32LE(129, L.ack_backlog);
    b.writeUInt32LE(128, L.max_ack_backlog);
    b.writeUInt32LE(4242, L.listen_drops);
    b.writeUInt16LE(port, L.sport);
    b[L.family] = family;
    if (owner) {
      b.writeUInt32LE(owner[0], L.owner_pid);
      b.write(owner[1], L.owner_comm);
    }
    return b;
  };
  const decoded = decodeCountedStates(Buffer.concat([listener(2, 8080, [77, 'nginx']), listener(10, 443), counts]));
  assert.deepEqual(decoded.counts, expected);
  assert.deepEqual(decoded.listeners, [
    { skaddr: 'ffff888812345678', family: 4, saddr: '127.0.0.1', sport: 8080, netns: 4026532321, acceptQueue: 129, acceptQueueLimit: 128, listenDrops: 4242, owner: { pid: 77, comm: 'nginx' } },
    { skaddr: 'ffff888812345678', family: 6, saddr: '::', sport: 443, netns: 4026532321, acceptQueue: 129, acceptQueueLimit: 128, listenDrops: 4242, owner: null },
  ]);
});

test('decodeCountedStates rejects what is too short for the counts, or cuts a listener', () => {
  assert.throws(() => decodeCountedStates(Buffer.alloc(60)), /state counts: 60 bytes, expected at least 64/);
  assert.throws(() => decodeCountedStates(Buffer.alloc(0)), /state counts: 0 bytes/);
  assert.throws(() => decodeCountedStates(Buffer.alloc(64 + 10)), /listener records/);
});

test('the inferred flag bit decodes to inferred: true, and only that bit', () => {
  assert.equal(decodeEvents(eventRecord({ ...V4_EVENT, flags: EVENT_FLAGS.inferred }))[0].inferred, true);
  assert.equal(decodeEvents(eventRecord({ ...V4_EVENT, flags: 0x2 }))[0].inferred, false);
  assert.equal(loadNative().layout.eventFlags.inferred, EVENT_FLAGS.inferred);
});

test('accept records, close reasons and byte counts decode', () => {
  const [e] = decodeEvents(eventRecord({
    ...V4_EVENT, newstate: TCP.CLOSE, kind: 1, peerFin: 1, err: 111, tx: 0x1_0000_0001n, rx: 42n,
  }));
  assert.deepEqual([e.kind, e.peerFinReceived, e.error, e.txBytes, e.rxBytes], ['accept', true, 111, 4294967297, 42]);
  const [plain] = decodeEvents(eventRecord({ ...V4_EVENT }));
  assert.equal(plain.peerFinReceived, false);
  const { eventKinds } = loadNative().layout;
  assert.deepEqual(EVENT_KINDS.map((k) => eventKinds[k]), [0, 1]);
});

test('addresses print as hex without leading zeros, the low 32 bits always in full', () => {
  const values: [bigint, string][] = [
    [0n, '00000000'], [0xfn, '0000000f'], [0x1_0000_0001n, '100000001'], [0xabc_0000_0001n, 'abc00000001'],
    [0x0fff_ffff_ffff_ffffn, 'fffffffffffffff'], [0xffff_8881_0000_00f0n, 'ffff8881000000f0'],
  ];
  const decoded = decodeSnapshotFiles(Buffer.concat(values.map(([v]) => fileRecord(v, 0n, 1, 3, 'x'))));
  assert.deepEqual(decoded.map((f) => f.skaddr), values.map(([, text]) => text));
  assert.deepEqual(values.map(([v]) => v.toString(16).padStart(8, '0')), values.map(([, text]) => text), 'as BigInt prints them');
});

test('a connection record: its last transition, then its story', () => {
  const L = CONNECTION_LAYOUT, C = CONNECTION_CODES;
  const record = (story: (buf: Buffer) => void) => {
    const buf = Buffer.alloc(L.size);
    eventRecord({ ...V4_EVENT, oldstate: TCP.FIN_WAIT2, newstate: TCP.CLOSE, kind: C.kind, peerFin: 1, tx: 101n, rx: 51n }).copy(buf, L.last);
    story(buf);
    return buf;
  };
  const full = record((buf) => {
    putU64(buf, L.start_ns, 4_999_000_000_000n);
    putU64(buf, L.dwell_ns + 8 * TCP.ESTABLISHED, 0x1_0000_0000n);
    putU64(buf, L.dwell_ns + 8 * TCP.FIN_WAIT1, 7n);
    buf.writeUInt32LE(77, L.opener_pid);
    putComm(buf, L.opener_comm, 'curl');
    buf[L.role] = C.client;
    buf[L.closed_first] = C.closedLocal;
    buf[L.acked] = C.ackedSyn | C.ackedFin;
    buf[L.born] = 1;
  });
  const bare = record(() => {});
  const [c, unknown] = decodeConnections(Buffer.concat([full, bare]));
  assert.deepEqual([c.last.kind, c.last.oldstate, c.last.newstate, c.last.txBytes, c.last.peerFinReceived], ['transition', TCP.FIN_WAIT2, TCP.CLOSE, 101, true]);
  assert.deepEqual(
    { startNs: c.startNs, born: c.born, dwellNs: c.dwellNs, openedBy: c.openedBy, role: c.role, closedFirst: c.closedFirst, synAcked: c.synAcked, finAcked: c.finAcked },
    { startNs: 4_999_000_000_000, born: true, dwellNs: { ESTABLISHED: 2 ** 32, FIN_WAIT1: 7 }, openedBy: { pid: 77, comm: 'curl' }, role: 'client', closedFirst: 'local', synAcked: true, finAcked: true },
  );
  assert.deepEqual(
    { born: unknown.born, dwellNs: unknown.dwellNs, openedBy: unknown.openedBy, role: unknown.role, closedFirst: unknown.closedFirst, synAcked: unknown.synAcked, finAcked: unknown.finAcked },
    { born: false, dwellNs: {}, openedBy: null, role: null, closedFirst: null, synAcked: false, finAcked: false },
  );
  assert.throws(() => decodeConnections(Buffer.alloc(L.size + 1)), /connection batch: 265 bytes/);
});

test('the RST that ended a connection: received, or sent with the kernel\'s reason by name', () => {
  useResetReasonNames(['SK_RST_REASON_NOT_SPECIFIED', 'SK_RST_REASON_NO_SOCKET', '', 'SK_RST_REASON_TCP_ABORT_ON_CLOSE']);
  const L = EVENT_LAYOUT;
  const record = (reset: number, reason: number) => {
    const buf = eventRecord({ ...V4_EVENT, newstate: TCP.CLOSE });
    buf[L.reset] = reset;
    buf.writeUInt16LE(reason, L.reset_reason);
    return buf;
  };
  const decoded = decodeEvents(Buffer.concat([
    record(0, 0), record(RESET_CODES.received, 7), record(RESET_CODES.sent, 3), record(RESET_CODES.sent, RESET_CODES.reasonNotKnown), record(RESET_CODES.sent, 9),
  ]));
  assert.deepEqual(decoded.map((e) => [e.reset, e.resetReason]), [
    [null, null], ['received', null], ['sent', 'TCP_ABORT_ON_CLOSE'], ['sent', null], ['sent', 'reason 9'],
  ]);
  const A = AGGREGATES_LAYOUT;
  const counts = Buffer.alloc(A.size);
  counts.writeBigUInt64LE(4n, A.resetsSent + 3 * 8);
  counts.writeBigUInt64LE(2n, A.resetsSent + (RESET_REASON_SLOTS - 1) * 8);
  counts.writeBigUInt64LE(5n, A.resetsReceived);
  const a = decodeAggregates(counts);
  assert.deepEqual([a.resetsSent, a.resetsReceived], [{ TCP_ABORT_ON_CLOSE: 4, 'not known': 2 }, 5]);
  useResetReasonNames([]);
});
