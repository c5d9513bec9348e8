import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotSocket, TransitionEvent } from '../../src/kernel/decoder';
import { ConnectionTracker, FinishedConnection, MeasureKind } from '../../src/model/tracker';
import { stateName, TCP } from '../../src/kernel/states';

const NETNS = 4026531840;
const { CLOSE, LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSING, CLOSE_WAIT, LAST_ACK } = TCP;

function ev(over: Partial<TransitionEvent> = {}): TransitionEvent {
  return {
    tsNs: 1, skaddr: 'ffff888100000001', sockId: 1, family: 4,
    saddr: '10.0.0.1', sport: 40000, daddr: '10.0.0.2', dport: 443, netns: NETNS,
    oldstate: ESTABLISHED, newstate: CLOSE_WAIT, prevStateNs: null,
    pid: 200, comm: 'curl', cgroupId: null, ownerSource: 'syscall', inferred: false,
    kind: 'transition', txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
    ...over,
  };
}

/** [oldstate, newstate, tsNs, overrides]: prevStateNs is the time since the previous step (null for the first). */
type Step = [from: number, to: number, tsNs: number, over?: Partial<TransitionEvent>];

function sequence(sockId: number, steps: Step[], common: Partial<TransitionEvent> = {}): TransitionEvent[] {
  let prevTs: number | null = null;
  return steps.map(([from, to, tsNs, over]) => {
    const e = ev({ sockId, oldstate: from, newstate: to, tsNs, prevStateNs: prevTs === null ? null : tsNs - prevTs, ...common, ...over });
    prevTs = tsNs;
    return e;
  });
}

function tracked() {
  const finished: FinishedConnection[] = [];
  const measures: [MeasureKind, number][] = [];
  const measuredSockIds: number[] = [];
  const tracker = new ConnectionTracker({
    onFinished: (c) => finished.push(c),
    onMeasure: (kind, ns, conn) => {
      measures.push([kind, ns]);
      measuredSockIds.push(conn.sockId);
    },
  });
  return { tracker, finished, measures, measuredSockIds };
}

/** The fields a report is made of. */
function summary(f: FinishedConnection) {
  return {
    ending: f.ending, afterlife: f.afterlife, closedFirst: f.closedFirst, role: f.role,
    txBytes: f.txBytes, rxBytes: f.rxBytes, lifetimeNs: f.lifetimeNs, lifetimeIsLowerBound: f.lifetimeIsLowerBound,
    dwellNs: f.dwellNs, pid: f.pid, comm: f.comm, ownerSource: f.ownerSource, sport: f.sport, dport: f.dport,
    error: f.error,
  };
}

function snap(over: Partial<SnapshotSocket>): SnapshotSocket {
  return {
    skaddr: 'ffff888100000100', sockId: 100, family: 4, saddr: '10.0.0.1', sport: 8080,
    daddr: '10.0.0.9', dport: 51000, netns: NETNS, uid: 0, inode: 1234, state: ESTABLISHED,
    ...over,
  };
}

// A client that wrote 1000 bytes and read 5000, closing first.
function clientActiveClose(sockId = 1): TransitionEvent[] {
  return sequence(sockId, [
    [CLOSE, SYN_SENT, 1_000, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 1_300, { txBytes: 1 }],
    [ESTABLISHED, FIN_WAIT1, 11_300, { pid: 201, comm: 'curl-worker', cgroupId: 77, ownerSource: 'cached', txBytes: 1001, rxBytes: 5000 }],
    [FIN_WAIT1, FIN_WAIT2, 11_500, { pid: null, comm: null, ownerSource: null, txBytes: 1002, rxBytes: 5000 }],
    [FIN_WAIT2, CLOSE, 12_000, { pid: null, comm: null, ownerSource: null, sport: 0, txBytes: 1002, rxBytes: 5001, peerFinReceived: true }],
  ]);
}

// ---- the endings -------------------------------------------------------------

test('1. client active close: TIME_WAIT afterlife, SYN and FIN taken out of the bytes', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(clientActiveClose());
  assert.equal(finished.length, 1);
  assert.deepEqual(finished[0], {
    sockId: 1, family: 4, saddr: '10.0.0.1', sport: 40000, daddr: '10.0.0.2', dport: 443, netns: NETNS,
    // The owner's cgroup comes with the owner.
    pid: 201, comm: 'curl-worker', cgroupId: 77, ownerSource: 'cached', openedBy: { pid: 200, comm: 'curl' }, role: 'client', preexisting: false,
    startNs: 1_000, state: CLOSE, stateSinceNs: 12_000,
    dwellNs: { SYN_SENT: 300, ESTABLISHED: 10_000, FIN_WAIT1: 200, FIN_WAIT2: 500 },
    closedFirst: 'local', synAcked: true, finAcked: true,
    endNs: 12_000, lifetimeNs: 11_000, lifetimeIsLowerBound: false,
    ending: 'active', afterlife: 'TIME_WAIT', txBytes: 1000, rxBytes: 5000, error: 0, reset: null, resetReason: null,
  });
  assert.deepEqual(measures, [['connect', 300], ['finWait2', 500], ['lifetime', 11_000]]);
  assert.equal(tracker.size, 0);
});

test('1b. a RST ends it as a reset with no afterlife: this side\'s abort with its reason, or the peer\'s', () => {
  const cases: [Partial<TransitionEvent>, string, string | null][] = [
    [{ reset: 'sent', resetReason: 'TCP_ABORT_ON_CLOSE' }, 'sent', 'TCP_ABORT_ON_CLOSE'],
    [{ reset: 'received', resetReason: null, error: 104 }, 'received', null],
  ];
  for (const [last, reset, reason] of cases) {
    const { tracker, finished } = tracked();
    const events = clientActiveClose();
    events[4] = { ...events[4], oldstate: FIN_WAIT2, peerFinReceived: false, ...last };
    tracker.apply(events);
    assert.deepEqual([finished[0].ending, finished[0].afterlife, finished[0].reset, finished[0].resetReason], ['reset', null, reset, reason]);
  }
});

test('2. server child, passive close: remote closed first, no SYN counted for a child', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(2, [
    [LISTEN, SYN_RECV, 5_000, { pid: 300, comm: 'server', ownerSource: 'listener' }],
    [SYN_RECV, ESTABLISHED, 5_100, { pid: null, comm: null, ownerSource: null }],
    [ESTABLISHED, CLOSE_WAIT, 9_100, { pid: null, comm: null, ownerSource: null, txBytes: 5000, rxBytes: 1001, peerFinReceived: true }],
    [CLOSE_WAIT, LAST_ACK, 9_600, { pid: 301, comm: 'server-w', ownerSource: 'syscall', txBytes: 5000, rxBytes: 1001, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 9_700, { pid: null, comm: null, ownerSource: null, txBytes: 5001, rxBytes: 1001, peerFinReceived: true }],
  ], { sport: 8080, dport: 51000, daddr: '10.0.0.9' }));
  assert.equal(finished.length, 1);
  assert.deepEqual(summary(finished[0]), {
    ending: 'passive', afterlife: null, closedFirst: 'remote', role: 'server',
    txBytes: 5000, rxBytes: 1000, lifetimeNs: 4_700, lifetimeIsLowerBound: false,
    dwellNs: { SYN_RECV: 100, ESTABLISHED: 4_000, CLOSE_WAIT: 500, LAST_ACK: 100 },
    pid: 301, comm: 'server-w', ownerSource: 'syscall', sport: 8080, dport: 51000, error: 0,
  });
  assert.equal(finished[0].daddr, '10.0.0.9');
  assert.deepEqual(measures, [['closeWait', 500], ['lifetime', 4_700]]);
});

test('3. simultaneous close: FIN_WAIT1 -> CLOSING -> CLOSE, TIME_WAIT afterlife', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(3, [
    [CLOSE, SYN_SENT, 2_000, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 2_050, { sport: 40003, txBytes: 1 }],
    [ESTABLISHED, FIN_WAIT1, 3_050, { sport: 40003, txBytes: 301, rxBytes: 700 }],
    [FIN_WAIT1, CLOSING, 3_080, { sport: 40003, txBytes: 301, rxBytes: 701, peerFinReceived: true }],
    [CLOSING, CLOSE, 3_200, { sport: 0, txBytes: 302, rxBytes: 701, peerFinReceived: true }],
  ]));
  assert.equal(finished.length, 1);
  assert.deepEqual(summary(finished[0]), {
    ending: 'simultaneous', afterlife: 'TIME_WAIT', closedFirst: 'local', role: 'client',
    txBytes: 300, rxBytes: 700, lifetimeNs: 1_200, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 50, ESTABLISHED: 1_000, FIN_WAIT1: 30, CLOSING: 120 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40003, dport: 443, error: 0,
  });
  assert.deepEqual(measures, [['connect', 50], ['lifetime', 1_200]]);
});

test('4a. reset received in ESTABLISHED (ECONNRESET): only the SYN comes off tx', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(4, [
    [CLOSE, SYN_SENT, 100, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 180, { txBytes: 1 }],
    [ESTABLISHED, CLOSE, 2_180, { txBytes: 51, rxBytes: 80, error: 104 }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'reset', afterlife: null, closedFirst: null, role: 'client',
    txBytes: 50, rxBytes: 80, lifetimeNs: 2_080, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 80, ESTABLISHED: 2_000 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40000, dport: 443, error: 104,
  });
  assert.deepEqual(measures, [['connect', 80], ['lifetime', 2_080]]);
});

test('4b. reset sent without error (server child ESTABLISHED -> CLOSE), and EPIPE (RST in CLOSE_WAIT)', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(5, [
    [LISTEN, SYN_RECV, 1_000],
    [SYN_RECV, ESTABLISHED, 1_040],
    [ESTABLISHED, CLOSE, 1_540, { txBytes: 20, rxBytes: 30 }],
  ], { sport: 8080, dport: 52000, pid: 300, comm: 'server' }));
  tracker.apply(sequence(6, [
    [CLOSE, SYN_SENT, 2_000, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 2_010, { txBytes: 1 }],
    [ESTABLISHED, CLOSE_WAIT, 2_110, { txBytes: 11, rxBytes: 4, peerFinReceived: true }],
    [CLOSE_WAIT, CLOSE, 2_140, { txBytes: 11, rxBytes: 4, peerFinReceived: true, error: 32 }],
  ], { sport: 40006 }));
  assert.deepEqual(finished.map(summary), [{
    ending: 'reset', afterlife: null, closedFirst: null, role: 'server',
    txBytes: 20, rxBytes: 30, lifetimeNs: 540, lifetimeIsLowerBound: false,
    dwellNs: { SYN_RECV: 40, ESTABLISHED: 500 },
    pid: 300, comm: 'server', ownerSource: 'syscall', sport: 8080, dport: 52000, error: 0,
  }, {
    ending: 'reset', afterlife: null, closedFirst: 'remote', role: 'client',
    txBytes: 10, rxBytes: 3, lifetimeNs: 140, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 10, ESTABLISHED: 100, CLOSE_WAIT: 30 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40006, dport: 443, error: 32,
  }]);
  assert.deepEqual(measures, [['lifetime', 540], ['connect', 10], ['closeWait', 30], ['lifetime', 140]]);
});

test('4c. CLOSE_WAIT straight to CLOSE is a reset, remote closed first, and measures closeWait', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(7, [
    [LISTEN, SYN_RECV, 10],
    [SYN_RECV, ESTABLISHED, 20],
    [ESTABLISHED, CLOSE_WAIT, 120, { rxBytes: 9, peerFinReceived: true }],
    [CLOSE_WAIT, CLOSE, 5_120, { txBytes: 4, rxBytes: 9, peerFinReceived: true }],
  ], { sport: 8080, dport: 53000 }));
  assert.deepEqual(summary(finished[0]), {
    ending: 'reset', afterlife: null, closedFirst: 'remote', role: 'server',
    txBytes: 4, rxBytes: 8, lifetimeNs: 5_110, lifetimeIsLowerBound: false,
    dwellNs: { SYN_RECV: 10, ESTABLISHED: 100, CLOSE_WAIT: 5_000 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 8080, dport: 53000, error: 0,
  });
  assert.deepEqual(measures, [['closeWait', 5_000], ['lifetime', 5_110]]);
});

test('4d. a reset in LAST_ACK (ECONNRESET) is a reset, not a passive close', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(13, [
    [LISTEN, SYN_RECV, 100],
    [SYN_RECV, ESTABLISHED, 110],
    [ESTABLISHED, CLOSE_WAIT, 1_110, { rxBytes: 51, peerFinReceived: true }],
    [CLOSE_WAIT, LAST_ACK, 1_210, { txBytes: 40, rxBytes: 51, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 1_250, { txBytes: 40, rxBytes: 51, peerFinReceived: true, error: 104 }],
  ], { sport: 8080, dport: 54000 }));
  // txBytes: see 6d (an error close in LAST_ACK is taken as our FIN acked).
  const { txBytes: _tx, ...rest } = summary(finished[0]);
  assert.deepEqual(rest, {
    ending: 'reset', afterlife: null, closedFirst: 'remote', role: 'server',
    rxBytes: 50, lifetimeNs: 1_150, lifetimeIsLowerBound: false,
    dwellNs: { SYN_RECV: 10, ESTABLISHED: 1_000, CLOSE_WAIT: 100, LAST_ACK: 40 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 8080, dport: 54000, error: 104,
  });
  assert.deepEqual(measures, [['closeWait', 100], ['lifetime', 1_150]]);
});

test('5. refused: SYN_SENT -> CLOSE with ECONNREFUSED; sport is taken once non-zero', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(8, [
    [CLOSE, SYN_SENT, 100, { sport: 0 }],
    [SYN_SENT, CLOSE, 400, { sport: 40001, error: 111 }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'refused', afterlife: null, closedFirst: null, role: 'client',
    txBytes: 0, rxBytes: 0, lifetimeNs: 300, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 300 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40001, dport: 443, error: 111,
  });
  assert.equal(finished[0].synAcked, false);
  assert.deepEqual(measures, [['lifetime', 300]]);
});

test('6a. timeout: FIN_WAIT1 -> CLOSE with ETIMEDOUT, our FIN never acked', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(9, [
    [CLOSE, SYN_SENT, 1_000, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 1_100, { txBytes: 1 }],
    [ESTABLISHED, FIN_WAIT1, 2_100, { txBytes: 601, rxBytes: 40 }],
    [FIN_WAIT1, CLOSE, 902_100, { txBytes: 601, rxBytes: 40, error: 110 }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'timeout', afterlife: null, closedFirst: 'local', role: 'client',
    txBytes: 600, rxBytes: 40, lifetimeNs: 901_100, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 100, ESTABLISHED: 1_000, FIN_WAIT1: 900_000 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40000, dport: 443, error: 110,
  });
  assert.equal(finished[0].finAcked, false);
  assert.deepEqual(measures, [['connect', 100], ['lifetime', 901_100]]);
});

test('6b. timeout: SYN_SENT -> CLOSE with ETIMEDOUT', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(10, [
    [CLOSE, SYN_SENT, 0, { sport: 0 }],
    [SYN_SENT, CLOSE, 127_000, { sport: 0, error: 110 }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'timeout', afterlife: null, closedFirst: null, role: 'client',
    txBytes: 0, rxBytes: 0, lifetimeNs: 127_000, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 127_000 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 0, dport: 443, error: 110,
  });
  assert.deepEqual(measures, [['lifetime', 127_000]]);
});

test('6c. active close before the peer FIN: FIN_WAIT2 timewait afterlife, rx not reduced', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(11, [
    [CLOSE, SYN_SENT, 1_000, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 1_200, { txBytes: 1 }],
    [ESTABLISHED, FIN_WAIT1, 3_200, { txBytes: 1001, rxBytes: 5000 }],
    [FIN_WAIT1, FIN_WAIT2, 3_300, { txBytes: 1002, rxBytes: 5000 }],
    [FIN_WAIT2, CLOSE, 3_700, { txBytes: 1002, rxBytes: 5000, peerFinReceived: false }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'active', afterlife: 'FIN_WAIT2', closedFirst: 'local', role: 'client',
    txBytes: 1000, rxBytes: 5000, lifetimeNs: 2_700, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 200, ESTABLISHED: 2_000, FIN_WAIT1: 100, FIN_WAIT2: 400 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40000, dport: 443, error: 0,
  });
  assert.deepEqual(measures, [['connect', 200], ['finWait2', 400], ['lifetime', 2_700]]);
});

test('6d. a close by RST or timeout in LAST_ACK/CLOSING/FIN_WAIT2: our FIN was not acked, no timewait socket', () => {
  const { tracker, finished } = tracked();
  // Server child; the peer vanished after its FIN: our FIN is retransmitted in LAST_ACK until ETIMEDOUT.
  tracker.apply(sequence(14, [
    [LISTEN, SYN_RECV, 100],
    [SYN_RECV, ESTABLISHED, 110],
    [ESTABLISHED, CLOSE_WAIT, 1_110, { rxBytes: 51, peerFinReceived: true }],
    [CLOSE_WAIT, LAST_ACK, 1_210, { txBytes: 3000, rxBytes: 51, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 901_210, { txBytes: 3000, rxBytes: 51, peerFinReceived: true, error: 110 }],
  ], { sport: 8080, dport: 55000 }));
  // Server child reset by the peer in LAST_ACK.
  tracker.apply(sequence(15, [
    [LISTEN, SYN_RECV, 100],
    [SYN_RECV, ESTABLISHED, 110],
    [ESTABLISHED, CLOSE_WAIT, 1_110, { rxBytes: 51, peerFinReceived: true }],
    [CLOSE_WAIT, LAST_ACK, 1_210, { txBytes: 40, rxBytes: 51, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 1_250, { txBytes: 40, rxBytes: 51, peerFinReceived: true, error: 104 }],
  ], { sport: 8080, dport: 55001 }));
  // Client reset by the peer in CLOSING (both FINs sent, ours not acked).
  tracker.apply(sequence(16, [
    [CLOSE, SYN_SENT, 100, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 110, { txBytes: 1 }],
    [ESTABLISHED, FIN_WAIT1, 1_110, { txBytes: 301, rxBytes: 700 }],
    [FIN_WAIT1, CLOSING, 1_120, { txBytes: 301, rxBytes: 701, peerFinReceived: true }],
    [CLOSING, CLOSE, 1_200, { txBytes: 301, rxBytes: 701, peerFinReceived: true, error: 104 }],
  ], { sport: 40016 }));
  // Client reset by the peer in FIN_WAIT2 (our FIN was acked; tcp_reset -> tcp_done, no timewait socket).
  tracker.apply(sequence(17, [
    [CLOSE, SYN_SENT, 100, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 110, { txBytes: 1 }],
    [ESTABLISHED, FIN_WAIT1, 1_110, { txBytes: 1001, rxBytes: 700 }],
    [FIN_WAIT1, FIN_WAIT2, 1_120, { txBytes: 1002, rxBytes: 700 }],
    [FIN_WAIT2, CLOSE, 1_200, { txBytes: 1002, rxBytes: 700, error: 104 }],
  ], { sport: 40017 }));
  assert.deepEqual(finished.map((f) => [f.sockId, f.ending, f.afterlife, f.txBytes, f.rxBytes]), [
    [14, 'timeout', null, 3000, 50],
    [15, 'reset', null, 40, 50],
    [16, 'reset', null, 300, 700],
    [17, 'reset', null, 1000, 700],
  ]);
});

test('7. aborted connect: SYN_SENT -> CLOSE without error', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(12, [
    [CLOSE, SYN_SENT, 500, { sport: 0 }],
    [SYN_SENT, CLOSE, 530, { sport: 40012, pid: null, comm: null, ownerSource: null }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'aborted', afterlife: null, closedFirst: null, role: 'client',
    txBytes: 0, rxBytes: 0, lifetimeNs: 30, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 30 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40012, dport: 443, error: 0,
  });
  assert.deepEqual(measures, [['lifetime', 30]]);
});

// ---- pre-existing connections ---------------------------------------------------

function snapshotSockets(): SnapshotSocket[] {
  return [
    snap({ sockId: 10, state: LISTEN, sport: 8080, daddr: '0.0.0.0', dport: 0 }),
    snap({ sockId: 11, state: ESTABLISHED, sport: 8080, daddr: '10.0.0.9', dport: 51000 }),
    snap({ sockId: 12, state: ESTABLISHED, sport: 45000, daddr: '10.0.0.2', dport: 443 }),
    // A listener on 45000 in another namespace does not make 12 a server.
    snap({ sockId: 13, state: LISTEN, sport: 45000, netns: NETNS + 1, daddr: '0.0.0.0', dport: 0 }),
    // TIME_WAIT and request sockets have no sockId and are not followed.
    snap({ sockId: 0, state: TCP.TIME_WAIT, sport: 45001, dport: 443 }),
  ];
}

test('8a. loadSnapshot: children of listening ports are servers, others clients; listeners and sockId 0 skipped', () => {
  const { tracker, finished, measures } = tracked();
  tracker.loadSnapshot(snapshotSockets(), 1_000_000);
  assert.equal(tracker.size, 2);
  assert.deepEqual([...tracker.connections()].map((c) => [c.sockId, c.role, c.preexisting, c.startNs, c.state, c.stateSinceNs, c.pid, c.synAcked]), [
    [11, 'server', true, 1_000_000, ESTABLISHED, null, null, false],
    [12, 'client', true, 1_000_000, ESTABLISHED, null, null, true],
  ]);
  assert.deepEqual(finished, []);
  assert.deepEqual(measures, []);
});

test('8b. pre-existing server child: passive close, lower-bound lifetime, no lifetime measurement', () => {
  const { tracker, finished, measures } = tracked();
  tracker.loadSnapshot(snapshotSockets(), 1_000_000);
  tracker.apply(sequence(11, [
    [ESTABLISHED, CLOSE_WAIT, 1_500_000, { pid: null, comm: null, ownerSource: null, rxBytes: 1001, peerFinReceived: true }],
    [CLOSE_WAIT, LAST_ACK, 1_600_000, { pid: 300, comm: 'server', ownerSource: 'snapshot', txBytes: 5000, rxBytes: 1001, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 1_600_050, { pid: null, comm: null, ownerSource: null, sport: 0, txBytes: 5001, rxBytes: 1001, peerFinReceived: true }],
  ], { sport: 8080, daddr: '10.0.0.9', dport: 51000 }));
  assert.equal(finished.length, 1);
  assert.deepEqual(summary(finished[0]), {
    ending: 'passive', afterlife: null, closedFirst: 'remote', role: 'server',
    txBytes: 5000, rxBytes: 1000, lifetimeNs: 600_050, lifetimeIsLowerBound: true,
    dwellNs: { CLOSE_WAIT: 100_000, LAST_ACK: 50 },
    pid: 300, comm: 'server', ownerSource: 'snapshot', sport: 8080, dport: 51000, error: 0,
  });
  assert.equal(finished[0].preexisting, true);
  assert.deepEqual(measures, [['closeWait', 100_000]]);
  assert.deepEqual([...tracker.connections()].map((c) => c.sockId), [12]);
});

test('8c. pre-existing client: the SYN is subtracted from tx', () => {
  const { tracker, finished, measures } = tracked();
  tracker.loadSnapshot(snapshotSockets(), 1_000_000);
  tracker.apply(sequence(12, [
    [ESTABLISHED, FIN_WAIT1, 2_000_000, { sport: 45000, txBytes: 1001, rxBytes: 5000 }],
    [FIN_WAIT1, FIN_WAIT2, 2_000_100, { sport: 45000, txBytes: 1002, rxBytes: 5000 }],
    [FIN_WAIT2, CLOSE, 2_000_300, { sport: 45000, txBytes: 1002, rxBytes: 5001, peerFinReceived: true }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'active', afterlife: 'TIME_WAIT', closedFirst: 'local', role: 'client',
    txBytes: 1000, rxBytes: 5000, lifetimeNs: 1_000_300, lifetimeIsLowerBound: true,
    dwellNs: { FIN_WAIT1: 100, FIN_WAIT2: 200 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 45000, dport: 443, error: 0,
  });
  assert.deepEqual(measures, [['finWait2', 200]]);
});

test('8d. a connection first seen mid-life from an event is pre-existing, role unknown', () => {
  const { tracker, finished, measures } = tracked();
  const events = sequence(20, [
    // Bytes as for a server's child (bytes_acked counts no SYN): 1000 payload, then our FIN.
    [ESTABLISHED, FIN_WAIT1, 7_000, { txBytes: 1000, rxBytes: 5000 }],
    [FIN_WAIT1, FIN_WAIT2, 7_100, { txBytes: 1001, rxBytes: 5000 }],
    [FIN_WAIT2, CLOSE, 9_100, { sport: 0, txBytes: 1001, rxBytes: 5001, peerFinReceived: true }],
  ], { sport: 8443, dport: 60000 });
  tracker.apply(events.slice(0, 1));
  assert.deepEqual([...tracker.connections()].map((c) => [c.sockId, c.role, c.preexisting, c.startNs, c.state, c.stateSinceNs]), [
    [20, null, true, 7_000, FIN_WAIT1, 7_000],
  ]);
  tracker.apply(events.slice(1));
  assert.deepEqual(summary(finished[0]), {
    ending: 'active', afterlife: 'TIME_WAIT', closedFirst: 'local', role: null,
    txBytes: 1000, rxBytes: 5000, lifetimeNs: 2_100, lifetimeIsLowerBound: true,
    dwellNs: { FIN_WAIT1: 100, FIN_WAIT2: 2_000 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 8443, dport: 60000, error: 0,
  });
  assert.deepEqual(measures, [['finWait2', 2_000]]);
  assert.equal(tracker.size, 0);
});

test('8e. a pre-existing socket already in FIN_WAIT2 has its FIN acked: tx is payload only', () => {
  const { tracker, finished } = tracked();
  tracker.loadSnapshot([snap({ sockId: 30, state: FIN_WAIT2, sport: 45500, dport: 443 })], 1_000);
  tracker.apply(sequence(30, [[FIN_WAIT2, CLOSE, 5_000, { sport: 45500, txBytes: 1002, rxBytes: 5001, peerFinReceived: true }]]));
  // A server child first seen mid-life in FIN_WAIT2 (no SYN counted): 5000 payload + FIN.
  tracker.apply(sequence(31, [[FIN_WAIT2, CLOSE, 6_000, { sport: 8080, txBytes: 5001, rxBytes: 1001, peerFinReceived: true }]]));
  assert.deepEqual(finished.map((f) => [f.sockId, f.role, f.txBytes, f.rxBytes]), [
    [30, 'client', 1000, 5000],
    [31, null, 5000, 1000],
  ]);
});

test('8f. who closed first is known for a connection first seen mid-close', () => {
  const { tracker, finished } = tracked();
  tracker.loadSnapshot([
    snap({ sockId: 40, state: LISTEN, sport: 8080, daddr: '0.0.0.0', dport: 0 }),
    snap({ sockId: 41, state: CLOSE_WAIT, sport: 8080, dport: 51000 }),
  ], 1_000);
  tracker.apply(sequence(41, [
    [CLOSE_WAIT, LAST_ACK, 9_000, { sport: 8080, txBytes: 10, rxBytes: 21, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 9_100, { sport: 8080, txBytes: 11, rxBytes: 21, peerFinReceived: true }],
  ]));
  tracker.apply(sequence(42, [
    [CLOSE_WAIT, LAST_ACK, 9_000, { sport: 8080, txBytes: 10, rxBytes: 21, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 9_100, { sport: 8080, txBytes: 11, rxBytes: 21, peerFinReceived: true }],
  ]));
  assert.deepEqual(finished.map((f) => [f.sockId, f.ending, f.closedFirst, f.txBytes, f.rxBytes]), [
    [41, 'passive', 'remote', 10, 20],
    [42, 'passive', 'remote', 10, 20],
  ]);
  // Snapshot sockets in the other closing states; ESTABLISHED has not closed yet.
  tracker.loadSnapshot([
    snap({ sockId: 43, state: FIN_WAIT1, sport: 45600 }),
    snap({ sockId: 44, state: CLOSING, sport: 45601 }),
    snap({ sockId: 45, state: LAST_ACK, sport: 45602 }),
    snap({ sockId: 46, state: ESTABLISHED, sport: 45603 }),
  ], 10_000);
  assert.deepEqual([...tracker.connections()].map((c) => [c.sockId, c.closedFirst, c.finAcked]), [
    [43, 'local', false], [44, 'local', false], [45, 'remote', false], [46, null, false],
  ]);
});

// ---- measurements, listeners, inferred transitions --------------------------------

test('9. accept: measures the accept-queue wait and takes the owner; unknown prevStateNs or socket gives nothing', () => {
  const { tracker, finished, measures, measuredSockIds } = tracked();
  const common = { sport: 8080, dport: 51000 };
  tracker.apply(sequence(50, [
    [LISTEN, SYN_RECV, 1_000, { pid: null, comm: null, ownerSource: null }],
    [SYN_RECV, ESTABLISHED, 1_030, { pid: null, comm: null, ownerSource: null }],
  ], common));
  tracker.apply([ev({ ...common, kind: 'accept', sockId: 50, tsNs: 1_280, oldstate: ESTABLISHED, newstate: ESTABLISHED, prevStateNs: 250, pid: 300, comm: 'server', ownerSource: 'syscall' })]);
  assert.deepEqual(measures, [['accept', 250]]);
  assert.deepEqual(measuredSockIds, [50]);
  const open = [...tracker.connections()];
  assert.deepEqual(open.map((c) => [c.sockId, c.state, c.stateSinceNs, c.pid, c.comm, c.ownerSource]), [
    [50, ESTABLISHED, 1_030, 300, 'server', 'syscall'],
  ]);

  // No wait known: no measurement. An accept for a socket not followed: ignored.
  tracker.apply([ev({ ...common, kind: 'accept', sockId: 50, tsNs: 1_300, oldstate: ESTABLISHED, newstate: ESTABLISHED, prevStateNs: null })]);
  tracker.apply([ev({ ...common, kind: 'accept', sockId: 51, tsNs: 1_300, oldstate: ESTABLISHED, newstate: ESTABLISHED, prevStateNs: 70 })]);
  assert.deepEqual(measures, [['accept', 250]]);
  assert.equal(tracker.size, 1);

  tracker.apply(sequence(50, [[ESTABLISHED, CLOSE, 2_030, { pid: null, comm: null, ownerSource: null, prevStateNs: 1_000, txBytes: 7, rxBytes: 9 }]], common));
  assert.deepEqual(summary(finished[0]), {
    ending: 'reset', afterlife: null, closedFirst: null, role: 'server',
    txBytes: 7, rxBytes: 9, lifetimeNs: 1_030, lifetimeIsLowerBound: false,
    dwellNs: { SYN_RECV: 30, ESTABLISHED: 1_000 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 8080, dport: 51000, error: 0,
  });
  assert.deepEqual(measures, [['accept', 250], ['lifetime', 1_030]]);
});

test('10. listener sockets are not connections', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(60, [
    [CLOSE, LISTEN, 100],
    [LISTEN, CLOSE, 900],
  ], { sport: 8080, daddr: '0.0.0.0', dport: 0 }));
  assert.equal(tracker.size, 0);
  // A listener from the snapshot closing is not one either.
  tracker.loadSnapshot([snap({ sockId: 61, state: LISTEN, sport: 9090, daddr: '0.0.0.0', dport: 0 })], 1_000);
  assert.equal(tracker.size, 0);
  tracker.apply(sequence(61, [[LISTEN, CLOSE, 2_000, { prevStateNs: 1_000 }]], { sport: 9090, daddr: '0.0.0.0', dport: 0 }));
  assert.equal(tracker.size, 0);
  assert.deepEqual([...tracker.connections()], []);
  assert.deepEqual(finished, []);
  assert.deepEqual(measures, []);
});

test('11. an inferred transition keeps the sequence going and gives no measurement', () => {
  const { tracker, finished, measures } = tracked();
  tracker.apply(sequence(70, [
    [CLOSE, SYN_SENT, 100, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 900, { inferred: true, prevStateNs: null, txBytes: 1 }],
    [ESTABLISHED, FIN_WAIT1, 1_900, { txBytes: 11 }],
    [FIN_WAIT1, FIN_WAIT2, 1_950, { txBytes: 12 }],
    [FIN_WAIT2, CLOSE, 2_050, { txBytes: 12, rxBytes: 21, peerFinReceived: true }],
  ]));
  assert.deepEqual(summary(finished[0]), {
    ending: 'active', afterlife: 'TIME_WAIT', closedFirst: 'local', role: 'client',
    txBytes: 10, rxBytes: 20, lifetimeNs: 1_950, lifetimeIsLowerBound: false,
    dwellNs: { ESTABLISHED: 1_000, FIN_WAIT1: 50, FIN_WAIT2: 100 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 40000, dport: 443, error: 0,
  });
  assert.deepEqual(measures, [['finWait2', 100], ['lifetime', 1_950]]);
});

test('11b. an inferred transition out of CLOSE_WAIT or FIN_WAIT2 is not measured even with a time', () => {
  const { tracker, measures } = tracked();
  tracker.apply(sequence(71, [
    [LISTEN, SYN_RECV, 100],
    [SYN_RECV, ESTABLISHED, 110],
    [ESTABLISHED, CLOSE_WAIT, 210],
    [CLOSE_WAIT, LAST_ACK, 610, { inferred: true }],
  ], { sport: 8080 }));
  tracker.apply(sequence(72, [
    [CLOSE, SYN_SENT, 100, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 140, { inferred: true }],
    [ESTABLISHED, FIN_WAIT1, 240],
    [FIN_WAIT1, FIN_WAIT2, 250],
    [FIN_WAIT2, CLOSE, 650, { inferred: true }],
  ]));
  assert.deepEqual(measures, [['lifetime', 550]]);
  assert.deepEqual([...tracker.connections()].map((c) => [c.sockId, c.state, c.stateSinceNs]), [[71, LAST_ACK, 610]]);
});

// ---- many connections ----------------------------------------------------------

test('12. two interleaved connections do not mix', () => {
  const { tracker, finished, measures, measuredSockIds } = tracked();
  const a = sequence(80, [
    [CLOSE, SYN_SENT, 1_000, { sport: 0 }],
    [SYN_SENT, ESTABLISHED, 1_100, { txBytes: 1 }],
    [ESTABLISHED, CLOSE, 4_100, { txBytes: 101, rxBytes: 200, error: 104 }],
  ], { sport: 41000, daddr: '10.0.0.2', dport: 443, pid: 200, comm: 'curl' });
  const b = sequence(81, [
    [LISTEN, SYN_RECV, 1_050],
    [SYN_RECV, ESTABLISHED, 1_060],
    [ESTABLISHED, CLOSE_WAIT, 2_060, { rxBytes: 31, peerFinReceived: true }],
    [CLOSE_WAIT, LAST_ACK, 2_090, { txBytes: 70, rxBytes: 31, peerFinReceived: true }],
    [LAST_ACK, CLOSE, 2_100, { txBytes: 71, rxBytes: 31, peerFinReceived: true }],
  ], { sport: 8080, daddr: '10.0.0.7', dport: 52000, pid: 300, comm: 'server', ownerSource: 'listener' });
  // a0 b0 a1 b1 b2 b3 b4 a2
  tracker.apply([a[0], b[0], a[1], b[1], b[2]]);
  assert.equal(tracker.size, 2);
  tracker.apply([b[3], b[4], a[2]]);
  assert.equal(tracker.size, 0);
  assert.deepEqual(finished.map((f) => f.sockId), [81, 80]);
  assert.deepEqual(summary(finished[0]), {
    ending: 'passive', afterlife: null, closedFirst: 'remote', role: 'server',
    txBytes: 70, rxBytes: 30, lifetimeNs: 1_050, lifetimeIsLowerBound: false,
    dwellNs: { SYN_RECV: 10, ESTABLISHED: 1_000, CLOSE_WAIT: 30, LAST_ACK: 10 },
    pid: 300, comm: 'server', ownerSource: 'listener', sport: 8080, dport: 52000, error: 0,
  });
  assert.equal(finished[0].daddr, '10.0.0.7');
  assert.deepEqual(summary(finished[1]), {
    ending: 'reset', afterlife: null, closedFirst: null, role: 'client',
    txBytes: 100, rxBytes: 200, lifetimeNs: 3_100, lifetimeIsLowerBound: false,
    dwellNs: { SYN_SENT: 100, ESTABLISHED: 3_000 },
    pid: 200, comm: 'curl', ownerSource: 'syscall', sport: 41000, dport: 443, error: 104,
  });
  assert.equal(finished[1].daddr, '10.0.0.2');
  assert.deepEqual(measures, [['connect', 100], ['closeWait', 30], ['lifetime', 1_050], ['lifetime', 3_100]]);
  assert.deepEqual(measuredSockIds, [80, 81, 81, 80]);
});

test('13. connections() and size follow open connections and drop closed ones', () => {
  const { tracker } = tracked();
  const openIds = () => [...tracker.connections()].map((c) => [c.sockId, c.state]);
  assert.equal(tracker.size, 0);
  assert.deepEqual(openIds(), []);

  tracker.apply(sequence(90, [[CLOSE, SYN_SENT, 100, { sport: 0 }]]));
  tracker.apply(sequence(91, [[LISTEN, SYN_RECV, 110, { sport: 8080 }]]));
  tracker.apply(sequence(92, [[CLOSE, LISTEN, 120, { sport: 8080, dport: 0 }]]));
  assert.equal(tracker.size, 2);
  assert.deepEqual(openIds(), [[90, SYN_SENT], [91, SYN_RECV]]);

  tracker.apply(sequence(90, [[SYN_SENT, ESTABLISHED, 200, { prevStateNs: 100 }]]));
  assert.deepEqual(openIds(), [[90, ESTABLISHED], [91, SYN_RECV]]);
  const c90 = [...tracker.connections()][0];
  assert.deepEqual([c90.sport, c90.stateSinceNs, c90.dwellNs, c90.synAcked], [40000, 200, { SYN_SENT: 100 }, true]);

  tracker.apply(sequence(91, [[SYN_RECV, CLOSE, 300, { prevStateNs: 190, sport: 8080 }]]));
  assert.equal(tracker.size, 1);
  assert.deepEqual(openIds(), [[90, ESTABLISHED]]);

  tracker.apply(sequence(90, [[ESTABLISHED, CLOSE, 400, { prevStateNs: 200, error: 104 }]]));
  assert.equal(tracker.size, 0);
  assert.deepEqual(openIds(), []);
  assert.equal(tracker.dropped, 0);
});

test('a birth event replaces a snapshot entry for the same socket (born between attach and snapshot)', () => {
  const { tracker, finished } = tracked();
  tracker.loadSnapshot([{ skaddr: 'ffff1', sockId: 77, family: 4, saddr: '127.0.0.1', sport: 0, daddr: '127.0.0.1', dport: 80,
    netns: 1, uid: 0, inode: 0, state: TCP.SYN_SENT }], 0);
  tracker.apply(sequence(77, [
    [TCP.CLOSE, TCP.SYN_SENT, 1_000, { pid: 9, comm: 'curl', ownerSource: 'syscall', dport: 80 }],
    [TCP.SYN_SENT, TCP.ESTABLISHED, 2_000, { sport: 5000, dport: 80 }],
    [TCP.ESTABLISHED, TCP.CLOSE, 5_000, { sport: 5000, dport: 80, error: 104 }],
  ]));
  assert.equal(finished.length, 1);
  assert.deepEqual([finished[0].preexisting, finished[0].lifetimeNs, finished[0].role, finished[0].openedBy?.pid],
    [false, 4_000, 'client', 9]);
});

// ---- callbacks for the other consumers (Perfetto, state over time) ------------------

/** Every callback but onMeasure, as one line each, in the order they came. */
function callbackLog(snapshot: SnapshotSocket[], events: TransitionEvent[]): string[] {
  const log: string[] = [];
  const id = (conn: { sockId: number; preexisting: boolean }) => `${conn.sockId}${conn.preexisting ? ' (pre-existing)' : ''}`;
  const tracker = new ConnectionTracker({
    onSnapshot: (sockets, nowNs) => log.push(`snapshot of ${sockets.length} at ${nowNs}`),
    onOpened: (conn) => log.push(`opened ${id(conn)} in ${stateName(conn.state)} at ${conn.startNs}`),
    onTransition: (e, conn) => log.push(`${conn ? id(conn) : 'listener'}: ${conn ? stateName(conn.state) : '-'} ` +
      `(${stateName(e.oldstate)} -> ${stateName(e.newstate)} at ${e.tsNs}${e.inferred ? ', inferred' : ''})`),
    onAccepted: (conn, e) => log.push(`accepted ${id(conn)} by ${e.pid} at ${e.tsNs}`),
    onOwnerChanged: (conn, e) => log.push(`owner of ${id(conn)} is ${conn.pid} ${conn.comm} at ${e.tsNs}`),
    onFinished: (c) => log.push(`finished ${id(c)} at ${c.endNs}`),
  });
  if (snapshot.length > 0) tracker.loadSnapshot(snapshot, 10);
  tracker.apply(events);
  return log;
}

const NO_OWNER = { pid: null, comm: null, ownerSource: null } as const;
const accept = (sockId: number, tsNs: number, over: Partial<TransitionEvent> = {}) =>
  ev({ kind: 'accept', sockId, tsNs, oldstate: ESTABLISHED, newstate: ESTABLISHED, ...over });

const CALLBACK_CASES: [name: string, snapshot: SnapshotSocket[], events: TransitionEvent[], log: string[]][] = [
  ['a client born in view: opened in CLOSE, each transition seen before it is taken, then finished', [],
    sequence(1, [[CLOSE, SYN_SENT, 100], [SYN_SENT, ESTABLISHED, 200, { inferred: true }], [ESTABLISHED, CLOSE, 300]]), [
      'opened 1 in CLOSE at 100',
      '1: CLOSE (CLOSE -> SYN_SENT at 100)',
      '1: SYN_SENT (SYN_SENT -> ESTABLISHED at 200, inferred)',
      '1: ESTABLISHED (ESTABLISHED -> CLOSE at 300)',
      'finished 1 at 300',
    ]],
  ['a listener: its transitions only, no connection', [],
    sequence(2, [[CLOSE, LISTEN, 100], [LISTEN, CLOSE, 900]]), [
      'listener: - (CLOSE -> LISTEN at 100)',
      'listener: - (LISTEN -> CLOSE at 900)',
    ]],
  ['a server child accepted by a process: the accept names its owner', [], [
    ...sequence(3, [[LISTEN, SYN_RECV, 100, NO_OWNER], [SYN_RECV, ESTABLISHED, 110, NO_OWNER]]),
    accept(3, 150, { pid: 300, comm: 'server' }),
    accept(4, 160, { pid: 300, comm: 'server' }), // not followed: nothing
  ], [
    'opened 3 in LISTEN at 100',
    '3: LISTEN (LISTEN -> SYN_RECV at 100)',
    '3: SYN_RECV (SYN_RECV -> ESTABLISHED at 110)',
    'owner of 3 is 300 server at 150',
    'accepted 3 by 300 at 150',
  ]],
  ['first seen mid-life: opened pre-existing in the state it leaves', [],
    sequence(5, [[ESTABLISHED, CLOSE_WAIT, 500, NO_OWNER]]), [
      'opened 5 (pre-existing) in ESTABLISHED at 500',
      '5 (pre-existing): ESTABLISHED (ESTABLISHED -> CLOSE_WAIT at 500)',
    ]],
  ['the snapshot: every socket to onSnapshot, only connections opened', [
    snap({ sockId: 6, state: LISTEN, daddr: '0.0.0.0', dport: 0 }),
    snap({ sockId: 7, state: ESTABLISHED }),
    snap({ sockId: 0, state: TCP.TIME_WAIT }),
    snap({ sockId: 8, state: CLOSE, daddr: '0.0.0.0', dport: 0 }), // unconnected: no connection yet
  ], [], [
    'snapshot of 4 at 10',
    'opened 7 (pre-existing) in ESTABLISHED at 10',
  ]],
  ['a birth after its snapshot entry opens it again, born', [snap({ sockId: 9, state: SYN_SENT })],
    sequence(9, [[CLOSE, SYN_SENT, 100]]), [
      'snapshot of 1 at 10',
      'opened 9 (pre-existing) in SYN_SENT at 10',
      'opened 9 in CLOSE at 100',
      '9: CLOSE (CLOSE -> SYN_SENT at 100)',
    ]],
  ['owner changes: only to another process, never to "not known"', [],
    sequence(10, [
      [CLOSE, SYN_SENT, 100, { pid: 200, comm: 'curl' }],
      [SYN_SENT, ESTABLISHED, 110, NO_OWNER],
      [ESTABLISHED, FIN_WAIT1, 120, { pid: 201, comm: 'worker' }],
      [FIN_WAIT1, FIN_WAIT2, 130, { pid: 201, comm: 'worker' }],
    ]), [
      'opened 10 in CLOSE at 100',
      '10: CLOSE (CLOSE -> SYN_SENT at 100)',
      '10: SYN_SENT (SYN_SENT -> ESTABLISHED at 110)',
      'owner of 10 is 201 worker at 120',
      '10: ESTABLISHED (ESTABLISHED -> FIN_WAIT1 at 120)',
      '10: FIN_WAIT1 (FIN_WAIT1 -> FIN_WAIT2 at 130)',
    ]],
];

for (const [name, snapshot, events, expected] of CALLBACK_CASES) {
  test(`callbacks: ${name}`, () => assert.deepEqual(callbackLog(snapshot, events), expected));
}
