import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnapshotFile, SnapshotSocket } from '../../src/kernel/decoder';
import { buildSnapshotReport, endpointText, filterSnapshot, Holders, SideClassifier, ssState } from '../../src/model/snapshot-report';
import { TCP } from '../../src/kernel/states';

const RANGE = { low: 32768, high: 60999 };
let next = 1;

function sock(fields: Partial<SnapshotSocket> & Pick<SnapshotSocket, 'state'>): SnapshotSocket {
  const id = next++;
  return {
    skaddr: `ffff8881${id.toString(16).padStart(8, '0')}`, sockId: fields.state === TCP.TIME_WAIT ? 0 : id, family: 4,
    saddr: '10.0.0.1', sport: 0, daddr: '0.0.0.0', dport: 0, netns: 4026531840, uid: 0, inode: id, ...fields,
  };
}

const hold = (s: SnapshotSocket, pid: number, fd: number, comm = `proc${pid}`): SnapshotFile =>
  ({ skaddr: s.skaddr, sockId: s.sockId, pid, fd, comm, cgroupId: 0, cmdline: `/usr/bin/${comm} --serve` });

function report(sockets: SnapshotSocket[], files: SnapshotFile[] = [], reserved = [] as { low: number; high: number }[]) {
  return buildSnapshotReport({
    snapshot: { sockets, files }, netns: 4026531840, ephemeral: RANGE, reserved, cmdlineOf: (pid, comm) => `(${comm})`,
  });
}

test('states are counted as ss counts them: a FIN_WAIT2 timewait socket as FIN_WAIT2, a request socket as SYN_RECV', () => {
  const sockets = [
    sock({ state: TCP.LISTEN, sport: 80 }),
    sock({ state: TCP.ESTABLISHED, sport: 80, daddr: '10.0.0.9', dport: 50000 }),
    sock({ state: TCP.TIME_WAIT, twSubstate: TCP.TIME_WAIT, sport: 80, daddr: '10.0.0.9', dport: 50001 }),
    sock({ state: TCP.TIME_WAIT, twSubstate: TCP.FIN_WAIT2, sport: 80, daddr: '10.0.0.9', dport: 50002 }),
    sock({ state: TCP.FIN_WAIT2, sport: 80, daddr: '10.0.0.9', dport: 50003 }),
    sock({ state: TCP.NEW_SYN_RECV, sport: 80, daddr: '10.0.0.9', dport: 50004 }),
    sock({ state: TCP.SYN_RECV, sport: 80, daddr: '10.0.0.9', dport: 50005 }),
  ];
  const r = report(sockets);
  assert.deepEqual(r.states, {
    ESTABLISHED: 1, SYN_SENT: 0, SYN_RECV: 2, FIN_WAIT1: 0, FIN_WAIT2: 2, TIME_WAIT: 1, CLOSE: 0,
    CLOSE_WAIT: 0, LAST_ACK: 0, LISTEN: 1, CLOSING: 0,
  });
  assert.equal(r.sockets, 7);
  assert.equal(r.requestSockets, 1);
  assert.equal(r.timewaitSockets, 2);
  // A record from before 1.1 has no substate: it is TIME_WAIT.
  assert.equal(ssState(sock({ state: TCP.TIME_WAIT })), TCP.TIME_WAIT);
});

test('by process: every holder once per socket (dup counts once, fork twice); sockets with no holder by kind', () => {
  const listener = sock({ state: TCP.LISTEN, sport: 80, acceptQueue: 3, acceptQueueLimit: 511 });
  const shared = sock({ state: TCP.ESTABLISHED, sport: 80, daddr: '10.0.0.9', dport: 50000 });
  const leaked = sock({ state: TCP.CLOSE_WAIT, saddr: '10.0.0.1', sport: 40000, daddr: '10.0.0.7', dport: 5432 });
  const orphan = sock({ state: TCP.LAST_ACK, sport: 80, daddr: '10.0.0.9', dport: 50001 });
  const tw = sock({ state: TCP.TIME_WAIT, twSubstate: TCP.TIME_WAIT, sport: 80, daddr: '10.0.0.9', dport: 50002 });
  const req = sock({ state: TCP.NEW_SYN_RECV, sport: 80, daddr: '10.0.0.9', dport: 50003 });
  const queued = sock({ state: TCP.ESTABLISHED, sport: 80, daddr: '10.0.0.9', dport: 50004 });
  const files = [
    hold(listener, 100, 3, 'nginx'), hold(listener, 101, 3, 'nginx'), // master and worker after fork
    hold(shared, 101, 7, 'nginx'), hold(shared, 101, 9, 'nginx'), // dup: one socket, two fds
    hold(leaked, 200, 5, 'python3'),
  ];
  const r = report([listener, shared, leaked, orphan, tw, req, queued], files);
  assert.deepEqual(r.byProcess.map((p) => [p.pid, p.sockets, p.states]), [
    [101, 2, { LISTEN: 1, ESTABLISHED: 1 }],
    [100, 1, { LISTEN: 1 }],
    [200, 1, { CLOSE_WAIT: 1 }],
  ]);
  assert.equal(r.byProcess[0].cmdline, '/usr/bin/nginx --serve');
  assert.deepEqual(r.noOwner.map((o) => [o.kind, o.sockets, o.states]).sort(), [
    ['queued', 1, { ESTABLISHED: 1 }], ['request', 1, { SYN_RECV: 1 }], ['timewait', 1, { TIME_WAIT: 1 }],
    ['unheld', 1, { LAST_ACK: 1 }],
  ]);
  assert.deepEqual(r.listeners, [{ saddr: '10.0.0.1', sport: 80, pid: 100, comm: 'nginx', acceptQueue: 3, acceptQueueLimit: 511, listenDrops: 0 }]);
});

test('holders are joined on the socket id, else on the address (a socket the kernel could not give an id)', () => {
  const tracked = sock({ state: TCP.ESTABLISHED, sport: 40001 });
  const untracked = { ...sock({ state: TCP.ESTABLISHED, sport: 40002 }), sockId: 0 };
  const reused = sock({ state: TCP.ESTABLISHED, sport: 40003 });
  const holders = new Holders([
    hold(tracked, 1, 3), hold(tracked, 1, 4), hold(tracked, 2, 3),
    { ...hold(untracked, 3, 5), sockId: 0 },
    // Its id was not known when the file table was read: found by address.
    { ...hold(reused, 4, 6), sockId: 0 },
  ]);
  assert.deepEqual(holders.of(tracked)?.map((f) => [f.pid, f.fd]), [[1, 3], [2, 3]]);
  assert.deepEqual(holders.of(untracked)?.map((f) => f.pid), [3]);
  assert.deepEqual(holders.of(reused)?.map((f) => f.pid), [4]);
  assert.equal(holders.of(sock({ state: TCP.ESTABLISHED, sport: 40004 })), undefined);
});

test('a holder without a recorded command line gets one from cmdlineOf', () => {
  const s = sock({ state: TCP.ESTABLISHED, sport: 40001, daddr: '10.0.0.7', dport: 5432 });
  const r = report([s], [{ skaddr: s.skaddr, sockId: s.sockId, pid: 300, fd: 4, comm: 'worker', cgroupId: 0 }]);
  assert.equal(r.byProcess[0].cmdline, '(worker)');
});

test('sides: a listening local port is the server, a local listener at the far end makes the client', () => {
  const sockets = [
    sock({ state: TCP.LISTEN, saddr: '127.0.0.1', sport: 45000 }), // a listener inside the ephemeral range
    sock({ state: TCP.TIME_WAIT, saddr: '127.0.0.1', sport: 45000, daddr: '127.0.0.1', dport: 50000 }),
    sock({ state: TCP.TIME_WAIT, saddr: '127.0.0.1', sport: 50000, daddr: '127.0.0.1', dport: 45000 }),
  ];
  const sides = new SideClassifier(sockets, RANGE);
  assert.equal(sides.sideOf(sockets[1]), 'server');
  assert.equal(sides.sideOf(sockets[2]), 'client');
});

test('sides without listeners: the end many sockets share is the service; else the ephemeral port is the client', () => {
  const toDb = [50001, 50002, 50003].map((p) => sock({ state: TCP.TIME_WAIT, saddr: '10.0.0.1', sport: p, daddr: '10.0.0.7', dport: 40000 }));
  const fromClients = [1, 2, 3].map((i) => sock({ state: TCP.TIME_WAIT, saddr: '10.0.0.1', sport: 33000, daddr: `10.0.1.${i}`, dport: 50000 + i }));
  const lone = sock({ state: TCP.ESTABLISHED, saddr: '10.0.0.1', sport: 45678, daddr: '10.0.0.8', dport: 443 });
  const loneServer = sock({ state: TCP.ESTABLISHED, saddr: '10.0.0.1', sport: 22, daddr: '10.0.0.8', dport: 45679 });
  const sides = new SideClassifier([...toDb, ...fromClients, lone, loneServer], RANGE);
  // 40000 lies in the ephemeral range, yet three sockets share 10.0.0.7:40000: it is the service.
  assert.deepEqual(toDb.map((s) => sides.sideOf(s)), ['client', 'client', 'client']);
  assert.deepEqual(fromClients.map((s) => sides.sideOf(s)), ['server', 'server', 'server']);
  assert.equal(sides.sideOf(lone), 'client');
  assert.equal(sides.sideOf(loneServer), 'server');
});

test('ephemeral use per local address and destination, TIME_WAIT included; reserved and listening ports left out', () => {
  const sockets = [
    sock({ state: TCP.LISTEN, saddr: '0.0.0.0', sport: 40000 }),
    ...[33001, 33002, 33003].map((p) => sock({ state: TCP.TIME_WAIT, twSubstate: TCP.TIME_WAIT, saddr: '10.0.0.1', sport: p, daddr: '10.0.0.7', dport: 443 })),
    sock({ state: TCP.ESTABLISHED, saddr: '10.0.0.1', sport: 33004, daddr: '10.0.0.7', dport: 443 }),
    // The same local port towards another destination: allowed, and counted for each.
    sock({ state: TCP.ESTABLISHED, saddr: '10.0.0.1', sport: 33001, daddr: '10.0.0.8', dport: 443 }),
    sock({ state: TCP.ESTABLISHED, saddr: '10.0.0.2', sport: 33001, daddr: '10.0.0.7', dport: 443 }),
    // Accepted on the listener in the range: the server side, not an ephemeral port.
    sock({ state: TCP.ESTABLISHED, saddr: '10.0.0.1', sport: 40000, daddr: '10.0.0.9', dport: 51000 }),
    // A reserved port (bound explicitly): not from the range.
    sock({ state: TCP.ESTABLISHED, saddr: '10.0.0.1', sport: 33100, daddr: '10.0.0.7', dport: 443 }),
  ];
  const r = report(sockets, [], [{ low: 33100, high: 33199 }]);
  assert.equal(r.ephemeral.usable, 28232 - 100);
  assert.equal(r.ephemeral.portsInUse, 4, '33001..33004');
  assert.deepEqual(r.ephemeral.destinations.map((d) => [d.saddr, d.daddr, d.dport, d.ports, d.timeWait]), [
    ['10.0.0.1', '10.0.0.7', 443, 4, 3],
    ['10.0.0.1', '10.0.0.8', 443, 1, 0],
    ['10.0.0.2', '10.0.0.7', 443, 1, 0],
  ]);
  assert.equal(r.ephemeral.destinations[0].share, 4 / 28132);
  assert.deepEqual(r.byPort.map((p) => [p.port, p.listening, p.sockets]), [[null, false, 6], [40000, true, 2], [33100, false, 1]]);
  assert.deepEqual(r.byPeer.map((p) => [p.addr, p.sockets]), [['10.0.0.7', 6], ['10.0.0.8', 1], ['10.0.0.9', 1]]);
});

test('timewait sockets grouped by ends, the client port left out; the side says who closed first', () => {
  const sockets = [
    sock({ state: TCP.LISTEN, saddr: '0.0.0.0', sport: 80 }),
    ...[1, 2].map((i) => sock({ state: TCP.TIME_WAIT, twSubstate: TCP.TIME_WAIT, saddr: '10.0.0.1', sport: 80, daddr: '10.0.1.1', dport: 50000 + i })),
    ...[1, 2, 3].map((i) => sock({ state: TCP.TIME_WAIT, twSubstate: TCP.TIME_WAIT, saddr: '10.0.0.1', sport: 34000 + i, daddr: '10.0.0.7', dport: 5432 })),
    sock({ state: TCP.TIME_WAIT, twSubstate: TCP.FIN_WAIT2, saddr: '10.0.0.1', sport: 34010, daddr: '10.0.0.7', dport: 5432 }),
  ];
  const r = report(sockets);
  assert.deepEqual(r.timewait.map((g) => [g.side, g.state, endpointText(g.saddr, g.sport), endpointText(g.daddr, g.dport), g.count]), [
    ['client', 'TIME_WAIT', '10.0.0.1:*', '10.0.0.7:5432', 3],
    ['server', 'TIME_WAIT', '10.0.0.1:80', '10.0.1.1:*', 2],
    ['client', 'FIN_WAIT2', '10.0.0.1:*', '10.0.0.7:5432', 1],
  ]);
  assert.equal(endpointText('::1', null), '[::1]:*');
});

// How long it takes is the bench's business (npm run bench --hold): here, that it is right at that size.
test('100,000 sockets are counted, each once', (t) => {
  const sockets: SnapshotSocket[] = [sock({ state: TCP.LISTEN, saddr: '127.0.0.1', sport: 8080 })];
  for (let i = 0; i < 50_000; i++) {
    const port = 32768 + (i % 28000);
    sockets.push(sock({ state: TCP.ESTABLISHED, saddr: '127.0.0.1', sport: port, daddr: '127.0.0.1', dport: 8080 + (i % 2) }));
    sockets.push(sock({ state: TCP.ESTABLISHED, saddr: '127.0.0.1', sport: 8080 + (i % 2), daddr: '127.0.0.1', dport: port }));
  }
  const files = sockets.map((s, i) => hold(s, 1000 + (i % 2), i + 3));
  const started = performance.now();
  const r = report(sockets, files);
  const ms = performance.now() - started;
  assert.equal(r.states.ESTABLISHED, 100_000);
  assert.equal(r.sockets, 100_001);
  t.diagnostic(`counted in ${ms.toFixed(0)} ms`);
});

test('filterSnapshot narrows as ss does: states as ss names them, ports at either end or one, the holders\' files with them', () => {
  const listener = sock({ state: TCP.LISTEN, sport: 8080 });
  const leaked = sock({ state: TCP.CLOSE_WAIT, sport: 8080, daddr: '10.0.0.9', dport: 40001 });
  const pool = sock({ state: TCP.CLOSE_WAIT, sport: 40002, daddr: '10.0.0.7', dport: 5432 });
  const orphan = sock({ state: TCP.TIME_WAIT, twSubstate: TCP.FIN_WAIT2, sport: 8080, daddr: '10.0.0.9', dport: 40003 });
  const request = sock({ state: TCP.NEW_SYN_RECV, sport: 8080, daddr: '10.0.0.9', dport: 40004 });
  const snapshot = { sockets: [listener, leaked, pool, orphan, request], files: [hold(listener, 1, 3), hold(leaked, 1, 4), hold(pool, 2, 5)] };
  const kept = (f: Parameters<typeof filterSnapshot>[1]) => filterSnapshot(snapshot, f).sockets.map((s) => s.skaddr);

  assert.deepEqual(kept({ states: [TCP.CLOSE_WAIT] }), [leaked.skaddr, pool.skaddr]);
  assert.deepEqual(kept({ states: [TCP.FIN_WAIT2] }), [orphan.skaddr], 'a timewait socket closed by its program is FIN_WAIT2, as ss shows it');
  assert.deepEqual(kept({ states: [TCP.SYN_RECV] }), [request.skaddr], 'a request socket is SYN_RECV');
  assert.deepEqual(kept({ states: [TCP.CLOSE_WAIT], ports: [8080] }), [leaked.skaddr]);
  assert.deepEqual(kept({ dports: [5432] }), [pool.skaddr]);
  assert.deepEqual(kept({ sports: [8080], states: [TCP.LISTEN, TCP.CLOSE_WAIT] }), [listener.skaddr, leaked.skaddr]);
  assert.deepEqual(filterSnapshot(snapshot, { states: [TCP.CLOSE_WAIT], ports: [5432] }).files.map((f) => f.pid), [2]);
  assert.equal(filterSnapshot(snapshot, {}), snapshot, 'no filter: the same snapshot');

  // The side of a socket is still told from the whole snapshot (the listener), not the filtered one.
  const filtered = filterSnapshot(snapshot, { states: [TCP.CLOSE_WAIT] });
  const r = buildSnapshotReport({ snapshot: filtered, unfiltered: snapshot.sockets, netns: 4026531840, ephemeral: RANGE, reserved: [], cmdlineOf: () => '' });
  assert.equal(r.sockets, 2);
  assert.deepEqual(r.states.CLOSE_WAIT, 2);
  assert.deepEqual(r.byPort.filter((p) => p.port !== null).map((p) => p.port).sort(), [8080]);
});
