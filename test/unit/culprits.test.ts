import { test } from 'node:test';
import { formatSeconds } from '../../src/units';
import assert from 'node:assert/strict';
import {
  adviceFor, buildCulpritReport, CloseWaitLog, Culprit, CulpritReport, CulpritSocket, groupName, groupsOf, median, ReportInput,
} from '../../src/model/culprits';
import { CgroupNames, CgroupTable } from '../../src/host/cgroups';
import { SnapshotFile, SnapshotSocket, TransitionEvent } from '../../src/kernel/decoder';
import { renderCulprits } from '../../src/format/culprits';
import { Snapshot } from '../../src/kernel/decoder';
import { TCP } from '../../src/kernel/states';
import { ConnectionTracker } from '../../src/model/tracker';

const NETNS = 4026531840;
const { CLOSE, LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, TIME_WAIT, CLOSE_WAIT, LAST_ACK } = TCP;

const SEC = 1_000_000_000;
/** Monotonic clock at the start of the trace, and 120000.4 ms later at the report. */
const START = 5_000 * SEC;
const NOW = START + 120_000_400_000;

// ---- builders -------------------------------------------------------------------

const skaddrOf = (sockId: number) => `ffff8881${sockId.toString(16).padStart(8, '0')}`;

/** A snapshot socket; its skaddr and local port follow from its sockId. */
function sock(sockId: number, state: number, over: Partial<SnapshotSocket> = {}): SnapshotSocket {
  return {
    skaddr: skaddrOf(sockId), sockId, family: 4, saddr: '10.0.0.1', sport: 40_000 + sockId,
    daddr: '10.0.0.50', dport: 8080, netns: NETNS, uid: 1000, inode: 9_000 + sockId, state,
    ...over,
  };
}

/** pid holds the socket sockId on fd. */
function file(sockId: number, pid: number, fd: number, comm: string, cgroupId = 0): SnapshotFile {
  return { skaddr: skaddrOf(sockId), sockId, pid, fd, comm, cgroupId };
}

function event(over: Partial<TransitionEvent> = {}): TransitionEvent {
  const sockId = over.sockId ?? 1;
  return {
    kind: 'transition', tsNs: START, skaddr: skaddrOf(sockId), sockId, family: 4,
    saddr: '10.0.0.1', sport: 40_000 + sockId, daddr: '10.0.0.50', dport: 8080, netns: NETNS,
    oldstate: ESTABLISHED, newstate: CLOSE_WAIT, prevStateNs: null,
    pid: null, comm: null, cgroupId: null, ownerSource: null, inferred: false,
    txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: true, idleNs: null,
    ...over,
  };
}

/** The peer's FIN arrived `ageNs` before NOW, after `idleNs` without I/O. */
function finReceived(sockId: number, ageNs: number, idleNs: number | null, over: Partial<TransitionEvent> = {}): TransitionEvent {
  return event({ sockId, tsNs: NOW - ageNs, oldstate: ESTABLISHED, newstate: CLOSE_WAIT, idleNs, ...over });
}

/** connect() by pid, seen in the syscall (or with another owner source). */
function connected(sockId: number, pid: number, comm: string, ownerSource: TransitionEvent['ownerSource'] = 'syscall'): TransitionEvent {
  return event({ sockId, tsNs: START + 1_000, oldstate: CLOSE, newstate: SYN_SENT, pid, comm, ownerSource, sport: 0 });
}

interface Setup {
  sockets: SnapshotSocket[];
  files: SnapshotFile[];
  events?: TransitionEvent[];
  minAgeMs?: number;
  pids?: number[];
  ports?: number[];
  comms?: string[];
  sortBy?: 'count' | 'age';
  cgroups?: CgroupNames;
  netnsName?: (inode: number) => string | null;
}

/** Feeds the events to both the log and the tracker, as the command does, and builds the report. */
function report(setup: Setup) {
  const log = new CloseWaitLog();
  const tracker = new ConnectionTracker();
  log.apply(setup.events ?? []);
  tracker.apply(setup.events ?? []);
  const cmdlineCalls: [number, string][] = [];
  const snapshot: Snapshot = { sockets: setup.sockets, files: setup.files };
  const input: ReportInput = {
    snapshot, log, tracker, nowNs: NOW, startedNs: START, minAgeMs: setup.minAgeMs, pids: setup.pids,
    ports: setup.ports, comms: setup.comms, sortBy: setup.sortBy,
    cmdlineOf: (pid, comm) => {
      cmdlineCalls.push([pid, comm]);
      return `/usr/bin/${comm} --worker=${pid}`;
    },
    cgroups: setup.cgroups ?? new CgroupTable(),
    netnsName: setup.netnsName,
  };
  const result = buildCulpritReport(input);
  assertNoKernelTuning(result);
  return { result, cmdlineCalls };
}

const KERNEL_TUNING = ['sysctl', 'tcp_keepalive', 'tcp_fin_timeout', 'tcp_tw'];

/** Every advice line ever produced is collected here and checked (8d). */
const allAdvice: string[] = [];

function assertNoKernelTuning(r: CulpritReport): void {
  for (const c of r.culprits) {
    for (const line of c.advice) {
      allAdvice.push(line);
      for (const word of KERNEL_TUNING) assert.ok(!line.includes(word), `advice mentions ${word}: ${line}`);
    }
  }
}

/** [name, count, idle before FIN] of each group. */
const groupRows = (c: Culprit) => c.groups.map((g) => [groupName(g), g.count, g.idleBeforeFinMs]);

const socketRows = (c: Culprit) =>
  c.sockets.map((s) => [s.fd, s.sport, s.ageMs, s.ageIsLowerBound, s.idleBeforeFinMs]);

// ---- the main scenario ----------------------------------------------------------

/**
 * pid 100 (java) holds three CLOSE_WAIT sockets to 10.0.0.50:8080, each idle 15 s
 * before the peer's FIN: 11 on fd 7 (90012.345678 ms ago), 12 on fd 9 and 13 on
 * fd 4 (both 30000.06 ms ago), plus an ESTABLISHED one (31) on fd 8.
 * pid 200 (python) holds one, 21 on fd 3, to 10.0.0.60:443, 1.234567 ms old,
 * idle 250 ms before the FIN. A TIME_WAIT socket (no sockId, no holder) and an
 * ESTABLISHED one held by pid 200 are not culprits.
 */
function twoProcesses(): Setup {
  const peer2 = { daddr: '10.0.0.60', dport: 443 };
  return {
    sockets: [
      sock(31, ESTABLISHED),
      sock(12, CLOSE_WAIT),
      sock(21, CLOSE_WAIT, peer2),
      sock(11, CLOSE_WAIT),
      sock(0, TIME_WAIT, { skaddr: 'ffff8881deadbeef', sport: 40099 }),
      sock(13, CLOSE_WAIT),
      sock(32, ESTABLISHED, peer2),
    ],
    files: [
      file(12, 100, 9, 'java'),
      file(31, 100, 8, 'java'),
      file(21, 200, 3, 'python'),
      file(32, 200, 5, 'python'),
      file(13, 100, 4, 'java'),
      file(11, 100, 7, 'java'),
    ],
    events: [
      connected(11, 100, 'java'),
      event({ sockId: 11, tsNs: START + 2_000, oldstate: SYN_SENT, newstate: ESTABLISHED, pid: 100, comm: 'java', ownerSource: 'syscall' }),
      finReceived(11, 90_012_345_678, 15 * SEC),
      connected(13, 100, 'java', 'cached'),
      finReceived(12, 30_000_060_000, 15 * SEC),
      finReceived(13, 30_000_060_000, 15 * SEC),
      event({ sockId: 21, ...peer2, sport: 8443, tsNs: START + 5_000, oldstate: LISTEN, newstate: SYN_RECV }),
      event({ sockId: 21, ...peer2, sport: 8443, tsNs: START + 5_100, oldstate: SYN_RECV, newstate: ESTABLISHED }),
      event({
        sockId: 21, ...peer2, sport: 8443, kind: 'accept', tsNs: START + 6_000, oldstate: ESTABLISHED, newstate: ESTABLISHED,
        prevStateNs: 900, pid: 300, comm: 'gunicorn', ownerSource: 'syscall',
      }),
      finReceived(21, 1_234_567, 250_000_000, peer2),
    ],
  };
}

// ---- 1. CloseWaitLog ----------------------------------------------------------------

test('1. CloseWaitLog records ->CLOSE_WAIT with its idle time and forgets it when the socket leaves', () => {
  const log = new CloseWaitLog();
  log.apply([
    event({ sockId: 1, tsNs: 1_000, oldstate: ESTABLISHED, newstate: CLOSE_WAIT, idleNs: 15 * SEC }),
    event({ sockId: 2, tsNs: 2_000, oldstate: SYN_RECV, newstate: CLOSE_WAIT, idleNs: null }),
    event({ sockId: 3, tsNs: 3_000, oldstate: ESTABLISHED, newstate: CLOSE_WAIT, idleNs: 7 }),
    // Another socket's transitions touch nothing here.
    event({ sockId: 4, tsNs: 3_500, oldstate: ESTABLISHED, newstate: LAST_ACK }),
  ]);
  assert.deepEqual(log.get(1), { enteredNs: 1_000, idleBeforeFinNs: 15 * SEC });
  assert.deepEqual(log.get(2), { enteredNs: 2_000, idleBeforeFinNs: null });
  assert.deepEqual(log.get(3), { enteredNs: 3_000, idleBeforeFinNs: 7 });
  assert.equal(log.get(4), undefined);

  // close() by the program: CLOSE_WAIT -> LAST_ACK forgets it at once.
  log.apply([event({ sockId: 1, tsNs: 4_000, oldstate: CLOSE_WAIT, newstate: LAST_ACK })]);
  assert.equal(log.get(1), undefined);
  // A reset straight to CLOSE forgets it too.
  log.apply([event({ sockId: 2, tsNs: 5_000, oldstate: CLOSE_WAIT, newstate: CLOSE, error: 104 })]);
  assert.equal(log.get(2), undefined);
  assert.deepEqual(log.get(3), { enteredNs: 3_000, idleBeforeFinNs: 7 });

  // accept() events are not transitions: they neither record nor forget.
  log.apply([
    event({ sockId: 3, kind: 'accept', tsNs: 6_000, oldstate: CLOSE_WAIT, newstate: CLOSE, prevStateNs: 10 }),
    event({ sockId: 5, kind: 'accept', tsNs: 6_000, oldstate: ESTABLISHED, newstate: CLOSE_WAIT, idleNs: 9 }),
  ]);
  assert.deepEqual(log.get(3), { enteredNs: 3_000, idleBeforeFinNs: 7 });
  assert.equal(log.get(5), undefined);

  // ->CLOSE from any state forgets it as well.
  log.apply([event({ sockId: 3, tsNs: 7_000, oldstate: LAST_ACK, newstate: CLOSE })]);
  assert.equal(log.get(3), undefined);
});

// ---- 2. the report --------------------------------------------------------------------

test('2. two processes: order, counts, ages to 0.1 ms, sockets by age then fd, peers, cmdline', () => {
  const { result, cmdlineCalls } = report(twoProcesses());
  assert.equal(result.observedMs, 120_000);
  assert.equal(result.orphans, 0);
  assert.deepEqual(result.culprits.map((c) => [c.pid, c.comm, c.cmdline, c.count]), [
    [100, 'java', '/usr/bin/java --worker=100', 3],
    [200, 'python', '/usr/bin/python --worker=200', 1],
  ]);
  assert.deepEqual(cmdlineCalls, [[100, 'java'], [200, 'python']]);

  const [java, python] = result.culprits;
  assert.equal(java.oldestAgeMs, 90_012.3);
  assert.equal(java.medianAgeMs, 30_000.1);
  assert.equal(java.ageIsLowerBound, false);
  // [fd, sport, ageMs, lowerBound, idleBeforeFinMs]: 90012.345678 -> 90012.3, 30000.06 -> 30000.1, equal ages by fd.
  assert.deepEqual(socketRows(java), [
    [7, 40011, 90_012.3, false, 15_000],
    [4, 40013, 30_000.1, false, 15_000],
    [9, 40012, 30_000.1, false, 15_000],
  ]);
  assert.deepEqual(java.sockets.map((s) => [s.saddr, s.daddr, s.dport]), [
    ['10.0.0.1', '10.0.0.50', 8080], ['10.0.0.1', '10.0.0.50', 8080], ['10.0.0.1', '10.0.0.50', 8080],
  ]);
  assert.deepEqual(groupRows(java), [['10.0.0.1 -> 10.0.0.50:8080', 3, 15_000]]);

  assert.equal(python.oldestAgeMs, 1.2);
  assert.equal(python.medianAgeMs, 1.2);
  assert.equal(python.ageIsLowerBound, false);
  assert.deepEqual(socketRows(python), [[3, 40021, 1.2, false, 250]]);
  assert.deepEqual(groupRows(python), [['10.0.0.1 -> 10.0.0.60:443', 1, 250]]);

  // Neither ESTABLISHED socket (31, 32) nor the TIME_WAIT one appears anywhere.
  const listed = result.culprits.flatMap((c) => c.sockets.map((s) => s.sport));
  assert.deepEqual(listed.sort(), [40011, 40012, 40013, 40021]);
});

test('2b. culprits: more sockets first, then the oldest, then the lower pid', () => {
  const setup: Setup = {
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT), sock(4, CLOSE_WAIT), sock(5, CLOSE_WAIT)],
    files: [
      file(1, 500, 3, 'young'), // 1 socket, 1 ms
      file(2, 600, 3, 'old'), // 1 socket, 60 s: before the 1 ms ones despite its higher pid
      file(3, 300, 3, 'pair'), // 2 sockets, 2 ms and 3 ms
      file(4, 300, 4, 'pair'),
      file(5, 450, 3, 'young2'), // 1 socket, 1 ms: ties with 500, lower pid first
    ],
    events: [
      finReceived(1, 1_000_000, null), finReceived(2, 60 * SEC, null), finReceived(3, 2_000_000, null),
      finReceived(4, 3_000_000, null), finReceived(5, 1_000_000, null),
    ],
  };
  const { result } = report(setup);
  assert.deepEqual(result.culprits.map((c) => [c.pid, c.count, c.oldestAgeMs]), [
    [300, 2, 3], [600, 1, 60_000], [450, 1, 1], [500, 1, 1],
  ]);
  // Median of two ages is their mean.
  assert.equal(result.culprits[0].medianAgeMs, 2.5);
});

// ---- 3. shared sockets ----------------------------------------------------------------

test('3. a socket held by two processes (fork without close) is listed under both', () => {
  const { result, cmdlineCalls } = report({
    sockets: [sock(11, CLOSE_WAIT)],
    files: [file(11, 101, 5, 'child'), file(11, 100, 5, 'parent')],
    events: [finReceived(11, 2 * SEC, 15 * SEC)],
  });
  // Same count and age: the lower pid first.
  assert.deepEqual(result.culprits.map((c) => [c.pid, c.comm, c.count]), [[100, 'parent', 1], [101, 'child', 1]]);
  assert.deepEqual(cmdlineCalls.sort((a, b) => a[0] - b[0]), [[100, 'parent'], [101, 'child']]);
  for (const c of result.culprits) {
    assert.deepEqual(socketRows(c), [[5, 40011, 2_000, false, 15_000]]);
    assert.deepEqual(groupRows(c), [['10.0.0.1 -> 10.0.0.50:8080', 1, 15_000]]);
  }
  assert.equal(result.orphans, 0);
});

// ---- 4. orphans -----------------------------------------------------------------------

test('4. CLOSE_WAIT sockets no process holds are counted as orphans, not listed', () => {
  const { result } = report({
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT), sock(4, ESTABLISHED), sock(5, LAST_ACK)],
    files: [file(2, 100, 6, 'java')],
    events: [finReceived(1, SEC, SEC), finReceived(2, SEC, SEC), finReceived(3, SEC, SEC)],
  });
  assert.equal(result.orphans, 2);
  assert.equal(result.sockets, 1);
  assert.deepEqual(result.culprits.map((c) => [c.pid, c.count]), [[100, 1]]);
  assert.deepEqual(result.culprits[0].sockets.map((s) => s.sport), [40002]);

  const none = report({ sockets: [sock(1, CLOSE_WAIT)], files: [] }).result;
  assert.deepEqual(none, { culprits: [], sockets: 0, orphans: 1, observedMs: 120_000, namespaces: 1, ownNetns: null });
});

// ---- 5. pre-existing sockets -------------------------------------------------------

test('5. a socket in CLOSE_WAIT before tracing began: its age is the observation time, a lower bound', () => {
  const { result } = report({
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT)],
    files: [file(1, 100, 3, 'java'), file(2, 100, 4, 'java'), file(3, 200, 3, 'python')],
    // Only socket 2's FIN was seen; 1 and 3 were already in CLOSE_WAIT.
    events: [finReceived(2, 5 * SEC, 15 * SEC)],
  });
  const [java, python] = result.culprits;
  assert.equal(java.pid, 100);
  assert.deepEqual(socketRows(java), [
    [3, 40001, 120_000.4, true, null],
    [4, 40002, 5_000, false, 15_000],
  ]);
  assert.equal(java.ageIsLowerBound, true);
  assert.equal(java.oldestAgeMs, 120_000.4);
  assert.equal(java.medianAgeMs, 62_500.2);

  assert.equal(python.pid, 200);
  assert.deepEqual(socketRows(python), [[3, 40003, 120_000.4, true, null]]);
  assert.equal(python.ageIsLowerBound, true);
  assert.deepEqual(groupRows(python), [['10.0.0.1 -> 10.0.0.50:8080', 1, null]]);
  assert.equal(result.observedMs, 120_000);
});

// ---- 6. filters -----------------------------------------------------------------------

test('6. minAgeMs drops younger sockets (not pre-existing ones), and a culprit left with none', () => {
  // Exactly at the threshold is kept: 11, 12 and 13; pid 200's 1.2 ms socket goes.
  const atThreshold = report({ ...twoProcesses(), minAgeMs: 30_000.06 }).result;
  assert.deepEqual(atThreshold.culprits.map((c) => [c.pid, c.count]), [[100, 3]]);
  assert.deepEqual(atThreshold.culprits[0].sockets.map((s) => s.fd), [7, 4, 9]);

  const older = report({ ...twoProcesses(), minAgeMs: 30_000.07 }).result;
  assert.deepEqual(older.culprits.map((c) => [c.pid, c.count, c.oldestAgeMs, c.medianAgeMs]), [[100, 1, 90_012.3, 90_012.3]]);
  assert.deepEqual(older.culprits[0].sockets.map((s) => s.fd), [7]);
  assert.deepEqual(groupRows(older.culprits[0]), [['10.0.0.1 -> 10.0.0.50:8080', 1, 15_000]]);

  // A pre-existing socket is at least as old as the observation, maybe older: never dropped,
  // while a socket whose entry was seen and is younger is, in the same report.
  const pre: Setup = {
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT)],
    files: [file(1, 100, 3, 'java'), file(2, 100, 4, 'java')],
    events: [finReceived(2, 119 * SEC, 15 * SEC)],
  };
  const kept = report({ ...pre, minAgeMs: 600_000 }).result;
  assert.deepEqual(kept.culprits.map((c) => [c.pid, c.count, c.ageIsLowerBound]), [[100, 1, true]]);
  assert.deepEqual(socketRows(kept.culprits[0]), [[3, 40001, 120_000.4, true, null]]);
  assert.deepEqual(report({ ...pre, minAgeMs: 119_000 }).result.culprits.map((c) => c.sockets.map((s) => s.fd)), [[3, 4]]);
});

test('6b. pids keeps only those holders; an empty list keeps all', () => {
  const only200 = report({ ...twoProcesses(), pids: [200] });
  assert.deepEqual(only200.result.culprits.map((c) => [c.pid, c.count]), [[200, 1]]);
  assert.deepEqual(only200.cmdlineCalls, [[200, 'python']]);

  const both = report({ ...twoProcesses(), pids: [999, 100, 200] }).result;
  assert.deepEqual(both.culprits.map((c) => [c.pid, c.count]), [[100, 3], [200, 1]]);

  const none = report({ ...twoProcesses(), pids: [999] }).result;
  assert.deepEqual(none.culprits, []);

  const all = report({ ...twoProcesses(), pids: [] }).result;
  assert.deepEqual(all.culprits.map((c) => c.pid), [100, 200]);

  // A shared socket appears only under the holder asked for.
  const shared = report({
    sockets: [sock(11, CLOSE_WAIT)],
    files: [file(11, 100, 5, 'parent'), file(11, 101, 6, 'child')],
    pids: [101],
  }).result;
  assert.deepEqual(shared.culprits.map((c) => [c.pid, c.sockets.map((s) => s.fd)]), [[101, [6]]]);
});

test('6c. ports keep sockets with one at either end; comms keep holders whose name contains one; orphans are counted within the filter', () => {
  const setup = twoProcesses();
  const byPort = report({ ...setup, ports: [443] }).result;
  assert.deepEqual(byPort.culprits.map((c) => [c.pid, c.count]), [[200, 1]]);
  assert.deepEqual(report({ ...setup, ports: [40011, 40012] }).result.culprits.map((c) => [c.pid, c.sockets.map((s) => s.sport)]), [[100, [40011, 40012]]]);
  assert.deepEqual(report({ ...setup, comms: ['pyth'] }).result.culprits.map((c) => c.comm), ['python']);
  assert.deepEqual(report({ ...setup, comms: ['ruby'] }).result.culprits, []);
  const withOrphans = report({ sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT, { dport: 9999 })], files: [] }).result;
  assert.equal(withOrphans.orphans, 2);
  assert.equal(report({ sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT, { dport: 9999 })], files: [], ports: [9999] }).result.orphans, 1);
});

test('6d. sortBy age puts the process and the group with the oldest socket first', () => {
  const setup: Setup = {
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT, { dport: 9000 }), sock(4, CLOSE_WAIT, { dport: 9000 }), sock(5, CLOSE_WAIT)],
    files: [file(1, 100, 3, 'many'), file(2, 100, 4, 'many'), file(5, 100, 5, 'many'), file(3, 200, 3, 'old'), file(4, 100, 6, 'many')],
    events: [finReceived(1, SEC, null), finReceived(2, SEC, null), finReceived(5, SEC, null), finReceived(3, 60 * SEC, null), finReceived(4, 2 * SEC, null)],
  };
  assert.deepEqual(report(setup).result.culprits.map((c) => c.pid), [100, 200]);
  const byAge = report({ ...setup, sortBy: 'age' }).result;
  assert.deepEqual(byAge.culprits.map((c) => c.pid), [200, 100]);
  // pid 100: three sockets to :8080 (1 s), one to :9000 (2 s): by count :8080 first, by age :9000.
  assert.deepEqual(report(setup).result.culprits[0].groups.map((g) => g.dport), [8080, 9000]);
  assert.deepEqual(byAge.culprits[1].groups.map((g) => g.dport), [9000, 8080]);
});

// ---- 7. opened by -------------------------------------------------------------------

test('7. openedBy is the tracker\'s opener of that socket: connect() or accept(), else null', () => {
  const { result } = report(twoProcesses());
  const [java, python] = result.culprits;
  assert.deepEqual(java.sockets.map((s) => [s.fd, s.openedBy]), [
    [7, { pid: 100, comm: 'java' }], // connect() seen in the syscall
    [4, null], // its owner came from a cache, not connect() itself
    [9, null], // never seen by the tracker
  ]);
  // Accepted by pid 300, held now by pid 200.
  assert.deepEqual(python.sockets.map((s) => [s.fd, s.openedBy]), [[3, { pid: 300, comm: 'gunicorn' }]]);

  // Without any events, nothing is known.
  const bare = report({ ...twoProcesses(), events: [] }).result;
  assert.deepEqual(bare.culprits.flatMap((c) => c.sockets.map((s) => s.openedBy)), [null, null, null, null]);
});

// ---- 8. advice ----------------------------------------------------------------------

test('8a. keep-alive mismatch: the peer evicts idle connections; spread shown when wider than 20%', () => {
  const steady = report(twoProcesses()).result.culprits[0];
  assert.deepEqual(steady.advice, [
    'peer 10.0.0.50:8080 closes idle connections after ~15.0 s; this process keeps them idle longer ' +
    'and never reads the FIN: evict idle connections before 15.0 s (a pool idle timeout below the peer\'s keep-alive timeout)',
  ]);

  const v6 = { daddr: '2001:db8::7', dport: 8443 };
  const spread = report({
    sockets: [sock(1, CLOSE_WAIT, v6), sock(2, CLOSE_WAIT, v6), sock(3, CLOSE_WAIT, v6)],
    files: [file(1, 100, 3, 'java'), file(2, 100, 4, 'java'), file(3, 100, 5, 'java')],
    events: [
      finReceived(1, SEC, 10 * SEC, v6),
      finReceived(2, SEC, 15 * SEC, v6),
      finReceived(3, SEC, 20 * SEC, v6),
    ],
  }).result.culprits[0];
  assert.deepEqual(groupRows(spread), [['10.0.0.1 -> [2001:db8::7]:8443', 3, 15_000]]);
  assert.deepEqual(spread.advice, [
    'peer [2001:db8::7]:8443 closes idle connections after ~15.0 s (measured 10.0 s to 20.0 s over 3 sockets); ' +
    'this process keeps them idle longer and never reads the FIN: evict idle connections before 15.0 s ' +
    '(a pool idle timeout below the peer\'s keep-alive timeout)',
  ]);

  // 12 s to 15 s around 15 s is exactly 20%: no spread; 11.9 s to 15 s is wider. Exactly 1000 ms is already an idle timeout.
  const wide = { dport: 8081 }, second = { dport: 9000 };
  const narrow = report({
    sockets: [
      sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT),
      sock(4, CLOSE_WAIT, wide), sock(5, CLOSE_WAIT, wide), sock(6, CLOSE_WAIT, wide), sock(7, CLOSE_WAIT, second),
    ],
    files: [1, 2, 3, 4, 5, 6, 7].map((id) => file(id, 100, id + 2, 'java')),
    events: [
      finReceived(1, SEC, 12 * SEC), finReceived(2, SEC, 15 * SEC), finReceived(3, SEC, 15 * SEC),
      finReceived(4, SEC, 11_900_000_000, wide), finReceived(5, SEC, 15 * SEC, wide), finReceived(6, SEC, 15 * SEC, wide),
      finReceived(7, 2 * SEC, SEC, second), // the oldest: listed first, but its peer has the fewest sockets
    ],
  }).result.culprits[0];
  assert.equal(narrow.sockets[0].dport, 9000);
  assert.deepEqual(narrow.groups.map((g) => [g.dport, g.count, g.idleBeforeFinMs]), [[8080, 3, 15_000], [8081, 3, 15_000], [9000, 1, 1_000]]);
  assert.equal(narrow.advice.length, 3);
  assert.match(narrow.advice[0], /^peer 10\.0\.0\.50:8080 closes idle connections after ~15\.0 s; /);
  assert.match(narrow.advice[1], /^peer 10\.0\.0\.50:8081 closes idle connections after ~15\.0 s \(measured 11\.9 s to 15\.0 s over 3 sockets\); /);
  assert.match(narrow.advice[2], /^peer 10\.0\.0\.50:9000 closes idle connections after ~1\.0 s; .*evict idle connections before 1\.0 s /);
});

test('8b. a prompt FIN: the program missed close() on some path', () => {
  const python = report(twoProcesses()).result.culprits[1];
  assert.deepEqual(python.advice, [
    'peer 10.0.0.60:443 closed 1 connection(s) within 250 ms of the last exchange, and this process never closed ' +
    'its side: look for an error or early-return path that skips close()',
  ]);

  // 999.1 ms is still prompt; the count is of the measured sockets to that peer.
  const two = report({
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT)],
    files: [file(1, 100, 3, 'java'), file(2, 100, 4, 'java'), file(3, 100, 5, 'java')],
    events: [finReceived(1, SEC, 999_000_000), finReceived(2, SEC, 999_200_000), finReceived(3, SEC, null)],
  }).result.culprits[0];
  assert.deepEqual(groupRows(two), [['10.0.0.1 -> 10.0.0.50:8080', 3, 999.1]]);
  assert.match(two.advice[0], /^peer 10\.0\.0\.50:8080 closed 2 connection\(s\) within 999 ms of the last exchange, .*skips close\(\)$/);
});

test('8c. sockets without an idle measurement are counted, the pre-existing ones said so', () => {
  const { result } = report({
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT), sock(4, CLOSE_WAIT)],
    files: [file(1, 100, 3, 'java'), file(2, 100, 4, 'java'), file(3, 100, 5, 'java'), file(4, 200, 3, 'python')],
    // 1: FIN seen, no I/O seen before it. 2: measured. 3: pre-existing. 4: FIN seen, no I/O, alone.
    events: [finReceived(1, SEC, null), finReceived(2, SEC, 15 * SEC), finReceived(4, SEC, null)],
  });
  const [java, python] = result.culprits;
  assert.equal(java.pid, 100);
  assert.deepEqual(java.advice, [
    'peer 10.0.0.50:8080 closes idle connections after ~15.0 s; this process keeps them idle longer ' +
    'and never reads the FIN: evict idle connections before 15.0 s (a pool idle timeout below the peer\'s keep-alive timeout)',
    '2 socket(s) have no idle time measured (1 were in CLOSE_WAIT before tracing began, for at least 120.0 s): ' +
    'trace from before they are closed by the peer to see why',
  ]);
  // A peer with no measurement at all gets no per-peer line, and no "before tracing began".
  assert.deepEqual(python.advice, [
    '1 socket(s) have no idle time measured: trace from before they are closed by the peer to see why',
  ]);
});

test('8d. no advice line ever offers a kernel setting', () => {
  // Every report built in this file had its advice checked as it was made; these add direct calls.
  const direct = (sockets: Partial<CulpritSocket>[]) => {
    const full = sockets.map((s, i): CulpritSocket => ({
      fd: i + 3, fds: [i + 3], saddr: '10.0.0.1', sport: 40_000 + i, daddr: '10.0.0.50', dport: 8080,
      ageMs: 1_000, ageIsLowerBound: false, idleBeforeFinMs: null, openedBy: null, side: 'client', netns: 1, ...s,
    }));
    const c: Culprit = {
      pid: 1, comm: 'x', cmdline: 'x', cgroup: null, container: null, count: full.length, oldestAgeMs: 1_000, medianAgeMs: 1_000,
      ageIsLowerBound: full.some((s) => s.ageIsLowerBound), sockets: full,
      groups: groupsOf(full), netns: [1],
      advice: [],
    };
    c.advice = adviceFor(c, 60_000);
    assertNoKernelTuning({ culprits: [c], sockets: c.count, orphans: 0, observedMs: 60_000 });
    return c.advice;
  };
  assert.deepEqual(direct([{ idleBeforeFinMs: 75_000 }, { idleBeforeFinMs: 5_000 }]), [
    'peer 10.0.0.50:8080 closes idle connections after ~40.0 s (measured 5.0 s to 75.0 s over 2 sockets); this process ' +
    'keeps them idle longer and never reads the FIN: evict idle connections before 40.0 s (a pool idle timeout below the peer\'s keep-alive timeout)',
  ]);
  assert.deepEqual(direct([{ idleBeforeFinMs: 3 }, { idleBeforeFinMs: null }]), [
    'peer 10.0.0.50:8080 closed 1 connection(s) within 3 ms of the last exchange, and this process never closed ' +
    'its side: look for an error or early-return path that skips close()',
    '1 socket(s) have no idle time measured: trace from before they are closed by the peer to see why',
  ]);
  assert.deepEqual(direct([{ ageIsLowerBound: true, ageMs: 60_000 }, { ageIsLowerBound: true, ageMs: 60_000 }]), [
    '2 socket(s) have no idle time measured (2 were in CLOSE_WAIT before tracing began, for at least 60.0 s): ' +
    'trace from before they are closed by the peer to see why',
  ]);

  // The three kinds of advice were all among the lines checked.
  assert.ok(allAdvice.some((l) => l.includes('evict idle connections')));
  assert.ok(allAdvice.some((l) => l.includes('skips close()')));
  assert.ok(allAdvice.some((l) => l.includes('before tracing began')));
  for (const line of allAdvice) {
    for (const word of KERNEL_TUNING) assert.ok(!line.includes(word), `advice mentions ${word}: ${line}`);
  }
});

// ---- 9. helpers ---------------------------------------------------------------------

test('9. median of odd and even lengths; formatSeconds below and above a second', () => {
  assert.equal(median([30, 10, 20]), 20);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.equal(median([10, 2]), 6);
  // Numeric order, not text order, and the input is left alone.
  const values = [100, 9, 25];
  assert.equal(median(values), 25);
  assert.deepEqual(values, [100, 9, 25]);

  assert.equal(formatSeconds(999), '999 ms');
  assert.equal(formatSeconds(1000), '1.0 s');
  assert.equal(formatSeconds(15234), '15.2 s');
  assert.equal(formatSeconds(0.4), '0 ms');
  assert.equal(formatSeconds(250.5), '251 ms');
  assert.equal(formatSeconds(120_000.4), '120.0 s');
});

test('9b. formatSeconds never writes "1000 ms": just under a second rounds to seconds', () => {
  assert.equal(formatSeconds(999.6), '1.0 s');
});

// ---- 10. rendering ---------------------------------------------------------------

/** The main scenario, plus a pre-existing socket for pid 200 on fd 6 and an orphan. */
function renderScenario(): Setup {
  const base = twoProcesses();
  return {
    sockets: [...base.sockets, sock(22, CLOSE_WAIT, { daddr: '10.0.0.60', dport: 443 }), sock(41, CLOSE_WAIT)],
    files: [...base.files, file(22, 200, 6, 'python')],
    events: base.events,
  };
}

test('10. renderCulprits: head, one block per process, table, lower bounds and advice', () => {
  const { result } = report(renderScenario());
  assert.deepEqual(renderCulprits(result), [
    'CLOSE_WAIT culprits after 120.0 s of tracing: 5 socket(s) held by 2 process(es), 1 orphaned (held by no process)',
    '',
    'PID 100  /usr/bin/java --worker=100',
    '  3 socket(s) in CLOSE_WAIT, oldest 90.0 s, median 30.0 s',
    '  SIDE    LOCAL     REMOTE          SOCKETS  OLDEST  MEDIAN  IDLE BEFORE FIN',
    '  client  10.0.0.1  10.0.0.50:8080        3  90.0 s  30.0 s           15.0 s',
    '  FD  LOCAL           PEER            IN CLOSE_WAIT  IDLE BEFORE FIN  OPENED BY',
    '   7  10.0.0.1:40011  10.0.0.50:8080         90.0 s           15.0 s  itself',
    '   4  10.0.0.1:40013  10.0.0.50:8080         30.0 s           15.0 s  -',
    '   9  10.0.0.1:40012  10.0.0.50:8080         30.0 s           15.0 s  -',
    '  => peer 10.0.0.50:8080 closes idle connections after ~15.0 s; this process keeps them idle longer ' +
    'and never reads the FIN: evict idle connections before 15.0 s (a pool idle timeout below the peer\'s keep-alive timeout)',
    '',
    'PID 200  /usr/bin/python --worker=200',
    '  2 socket(s) in CLOSE_WAIT, oldest >=120.0 s, median 60.0 s',
    '  SIDE    LOCAL     REMOTE         SOCKETS     OLDEST  MEDIAN  IDLE BEFORE FIN',
    '  client  10.0.0.1  10.0.0.60:443        2  >=120.0 s  60.0 s           250 ms',
    '  FD  LOCAL           PEER           IN CLOSE_WAIT  IDLE BEFORE FIN  OPENED BY',
    '   6  10.0.0.1:40022  10.0.0.60:443      >=120.0 s                -  -',
    '   3  10.0.0.1:40021  10.0.0.60:443           1 ms           250 ms  300 gunicorn',
    '  => peer 10.0.0.60:443 closed 1 connection(s) within 250 ms of the last exchange, and this process never closed ' +
    'its side: look for an error or early-return path that skips close()',
    '  => 1 socket(s) have no idle time measured (1 were in CLOSE_WAIT before tracing began, for at least 120.0 s): ' +
    'trace from before they are closed by the peer to see why',
    '',
  ]);
});

test('10b. renderCulprits: "... N more" past maxSockets; an opener without comm', () => {
  const { result } = report(twoProcesses());
  const lines = renderCulprits(result, { top: 2, width: 0 });
  const java = lines.slice(lines.indexOf('PID 100  /usr/bin/java --worker=100'), lines.indexOf('PID 200  /usr/bin/python --worker=200'));
  assert.deepEqual(java.slice(4, 8).map((l) => l.trim().split(/\s+/)[0]), ['FD', '7', '4', '...']);
  assert.equal(java[7], '  ... 1 more socket(s) (--top shows more, --json lists all)');
  assert.ok(java[8].startsWith('  => peer 10.0.0.50:8080'), java[8]);
  // pid 200 has one socket: all shown, no "more" line.
  assert.equal(lines.filter((l) => l.includes(' more')).length, 1);
  assert.equal(renderCulprits(result, { top: 3, width: 0 }).filter((l) => l.includes(' more')).length, 0);

  const r: CulpritReport = structuredClone(result);
  r.culprits[1].sockets[0].openedBy = { pid: 300, comm: null };
  assert.ok(renderCulprits(r).includes('   3  10.0.0.1:40021  10.0.0.60:443           1 ms           250 ms  300'));
});

test('10c. renderCulprits with no holder: the head says the orphans, then a plain sentence', () => {
  const { result } = report({ sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, ESTABLISHED)], files: [file(3, 100, 3, 'java')] });
  assert.deepEqual(renderCulprits(result), [
    'CLOSE_WAIT culprits after 120.0 s of tracing: 0 socket(s) held by 0 process(es), 2 orphaned (held by no process)',
    '',
    'No process holds a socket in CLOSE_WAIT.',
  ]);
  // The same with a holder filtered away by pid.
  const filtered = report({ ...twoProcesses(), pids: [999] }).result;
  assert.equal(renderCulprits(filtered)[2], 'No process holds a socket in CLOSE_WAIT.');
});

// ---- suspected bugs ---------------------------------------------------------------

test('11. a socket on two fds of one process (dup) is one socket in CLOSE_WAIT', () => {
  const { result } = report({
    sockets: [sock(11, CLOSE_WAIT)],
    files: [file(11, 100, 5, 'java'), file(11, 100, 9, 'java')],
    events: [finReceived(11, SEC, 15 * SEC)],
  });
  assert.equal(result.culprits[0].count, 1);
  assert.equal(result.culprits[0].groups[0].count, 1);
});

test('12. the head line counts a socket shared by two processes once', () => {
  const { result } = report({
    sockets: [sock(11, CLOSE_WAIT)],
    files: [file(11, 100, 5, 'parent'), file(11, 101, 5, 'child')],
    events: [finReceived(11, SEC, 15 * SEC)],
  });
  assert.ok(renderCulprits(result)[0].includes(': 1 socket(s) held by 2 process(es)'), renderCulprits(result)[0]);
});

// ---- containers -----------------------------------------------------------------------

test('13. each culprit names its holder\'s cgroup and container; the text shows the container', () => {
  const id = 'a1b2c3d4e5f6'.padEnd(64, '0');
  const cgroups = new CgroupTable();
  cgroups.add(7001, `/system.slice/docker-${id}.scope`);
  cgroups.add(7002, '/user.slice/user-1000.slice/session-3.scope');
  const { result } = report({
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT), sock(3, CLOSE_WAIT)],
    files: [file(1, 100, 3, 'java', 7001), file(2, 200, 3, 'python', 7002), file(3, 300, 3, 'old', 0)],
    events: [finReceived(1, 3 * SEC, null), finReceived(2, 2 * SEC, null), finReceived(3, SEC, null)],
    cgroups,
  });
  assert.deepEqual(result.culprits.map((c) => [c.pid, c.cgroup, c.container]), [
    [100, `/system.slice/docker-${id}.scope`, 'a1b2c3d4e5f6'],
    [200, '/user.slice/user-1000.slice/session-3.scope', null],
    // A 1.0 recording's holders have cgroup id 0: not known.
    [300, null, null],
  ]);
  const lines = renderCulprits(result);
  assert.ok(lines.includes('PID 100  container a1b2c3d4e5f6  /usr/bin/java --worker=100'), lines.join('\n'));
  assert.ok(lines.includes('PID 200  /usr/bin/python --worker=200'), lines.join('\n'));
});

test('CloseWaitLog.fromSnapshot: the kernel side\'s facts on sockets now in CLOSE_WAIT, only where it saw them enter', () => {
  const log = CloseWaitLog.fromSnapshot([
    sock(1, TCP.CLOSE_WAIT, { closeWait: { sinceNs: 5e9, idleBeforeFinNs: 2e6, openedBy: { pid: 42, comm: 'pool' } } }),
    sock(2, TCP.CLOSE_WAIT, { closeWait: { sinceNs: null, idleBeforeFinNs: null, openedBy: null } }),
    sock(3, TCP.CLOSE_WAIT),
  ]);
  assert.deepEqual(log.get(1), { enteredNs: 5e9, idleBeforeFinNs: 2e6, openedBy: { pid: 42, comm: 'pool' } });
  assert.equal(log.get(2), undefined, 'in CLOSE_WAIT before the trace: its age is a lower bound');
  assert.equal(log.get(3), undefined);
});

test('culprits in several network namespaces each say which: the text names it only then', () => {
  const other = 4026532999;
  const { result: both } = report({
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT, { netns: other })],
    files: [file(1, 10, 3, 'app'), file(2, 20, 3, 'app')],
  });
  assert.deepEqual([both.namespaces, both.culprits.map((c) => [c.pid, c.netns]).sort()], [2, [[10, [NETNS]], [20, [other]]]]);
  assert.ok(renderCulprits(both).some((l) => l.startsWith(`PID 20  net:[${other}]  `)), renderCulprits(both).join('\n'));
  const { result: one } = report({ sockets: [sock(1, CLOSE_WAIT)], files: [file(1, 10, 3, 'app')] });
  assert.ok(!renderCulprits(one).some((l) => l.includes('net:[')));
  // One namespace, but not the one tcptrace runs in (live, -P narrowed it to a pod's port).
  assert.ok(renderCulprits({ ...one, ownNetns: other }).some((l) => l.startsWith(`PID 10  net:[${NETNS}]  `)));
  assert.ok(!renderCulprits({ ...one, ownNetns: NETNS }).some((l) => l.includes('net:[')));
  // What names a namespace (a pod, an ip netns name) follows its inode; one nothing names has none.
  const { result: named } = report({
    sockets: [sock(1, CLOSE_WAIT), sock(2, CLOSE_WAIT, { netns: other })],
    files: [file(1, 10, 3, 'app'), file(2, 20, 3, 'app')],
    netnsName: (inode) => (inode === other ? 'pod web-7d9f' : null),
  });
  assert.deepEqual(named.netnsNames, { [other]: 'pod web-7d9f' });
  const text = renderCulprits(named);
  assert.ok(text.some((l) => l.startsWith(`PID 20  net:[${other}] pod web-7d9f  `)), text.join('\n'));
  assert.ok(text.some((l) => l.startsWith(`PID 10  net:[${NETNS}]  `)));
  assert.equal(both.netnsNames, undefined, 'nothing to name: no key');
});
