import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotFile, SnapshotSocket } from '../../src/kernel/decoder';
import { narrowSnapshot } from '../../src/source/source';
import { AF_INET, AF_INET6, TCP } from '../../src/kernel/states';

function socket(skaddr: string, over: Partial<SnapshotSocket> = {}): SnapshotSocket {
  return {
    skaddr, sockId: 1, family: 4, saddr: '127.0.0.1', sport: 40000, daddr: '127.0.0.1', dport: 8080,
    netns: 4026531833, uid: 0, inode: 1, state: TCP.ESTABLISHED, ...over,
  };
}

const file = (skaddr: string, pid: number): SnapshotFile => ({ skaddr, sockId: 1, pid, fd: 3, comm: 'x', cgroupId: 0 });

const sockets = [
  socket('a'), // 40000 -> 8080
  socket('b', { sport: 8080, dport: 40000 }),
  socket('c', { sport: 5432, dport: 50000 }),
  socket('d', { family: 6, saddr: '::1', daddr: '::1', sport: 443, dport: 50001 }),
];
// 'z': a socket fd of another network namespace, which the socket iterator does not list.
const files = [file('a', 1), file('b', 2), file('c', 3), file('d', 4), file('d', 5), file('z', 6)];

test('without filters: every socket of the snapshot, and only the holders of those sockets', () => {
  const narrowed = narrowSnapshot({ sockets, files }, {});
  assert.deepEqual(narrowed.sockets, sockets);
  assert.deepEqual(narrowed.files.map((f) => f.pid), [1, 2, 3, 4, 5]);
});

test('--port keeps sockets with that local or remote port, and their holders', () => {
  const narrowed = narrowSnapshot({ sockets, files }, { ports: [8080] });
  assert.deepEqual(narrowed.sockets.map((s) => s.skaddr), ['a', 'b']);
  assert.deepEqual(narrowed.files.map((f) => f.pid), [1, 2]);
});

test('-4 and -6 keep one family', () => {
  assert.deepEqual(narrowSnapshot({ sockets, files }, { family: AF_INET6 }).sockets.map((s) => s.skaddr), ['d']);
  assert.deepEqual(narrowSnapshot({ sockets, files }, { family: AF_INET, ports: [443, 5432] }).sockets.map((s) => s.skaddr), ['c']);
});

test('--state, --pid and --netns narrow the snapshot as they narrow transitions: no socket whose transitions never come', () => {
  const more = [
    ...sockets,
    socket('w', { state: TCP.CLOSE_WAIT }),
    socket('t', { state: TCP.TIME_WAIT, twSubstate: TCP.FIN_WAIT2, sockId: 0 }),
    socket('r', { state: TCP.NEW_SYN_RECV, sockId: 0 }),
    socket('n', { netns: 4026532000 }),
  ];
  const all = [...files, file('w', 7), file('n', 8)];
  const mask = (...states: number[]) => states.reduce((m, s) => m | (1 << s), 0);
  const kept = (f: Parameters<typeof narrowSnapshot>[1]) => narrowSnapshot({ sockets: more, files: all }, f);
  assert.deepEqual(kept({ stateMask: mask(TCP.CLOSE_WAIT) }).sockets.map((s) => s.skaddr), ['w']);
  assert.deepEqual(kept({ stateMask: mask(TCP.CLOSE_WAIT) }).files.map((f) => f.pid), [7]);
  // As ss names them: a timewait socket closed by its program is FIN_WAIT2, a request socket SYN_RECV.
  assert.deepEqual(kept({ stateMask: mask(TCP.FIN_WAIT2, TCP.SYN_RECV) }).sockets.map((s) => s.skaddr), ['t', 'r']);
  assert.deepEqual(kept({ pids: [2, 4] }).sockets.map((s) => s.skaddr), ['b', 'd']);
  assert.deepEqual(kept({ pids: [4] }).files.map((f) => f.pid), [4, 5], 'every holder of a kept socket');
  assert.deepEqual(kept({ netns: [4026532000] }).sockets.map((s) => s.skaddr), ['n']);
  assert.deepEqual(kept({ ports: [8080], stateMask: mask(TCP.ESTABLISHED), pids: [1] }).sockets.map((s) => s.skaddr), ['a']);
});
