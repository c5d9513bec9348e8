import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupFilter, isWithin, parseCgroupSelection } from '../../src/kernel/cgroup-filter';
import { CgroupTable, CgroupTree, parseCgroup2Mount, unifiedPathIn } from '../../src/host/cgroups';
import { SnapshotFile, SnapshotSocket, TransitionEvent } from '../../src/kernel/decoder';
import { TcptraceError } from '../../src/errors';

const A = 'a'.repeat(12) + '1'.repeat(52);
const B = 'a'.repeat(12) + '2'.repeat(52);
const C = 'c'.repeat(64);

// ---- the mount ------------------------------------------------------------------

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

const UNIFIED = `22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

test('parseCgroup2Mount: hybrid and unified layouts; none; escaped names; the whole hierarchy first', () => {
  assert.deepEqual(parseCgroup2Mount(HYBRID), { mountPoint: '/sys/fs/cgroup/unified', root: '/' });
  assert.deepEqual(parseCgroup2Mount(UNIFIED), { mountPoint: '/sys/fs/cgroup', root: '/' });
  assert.equal(parseCgroup2Mount(HYBRID.split('\n').slice(0, 3).join('\n')), null);
  assert.equal(parseCgroup2Mount(''), null);
  assert.deepEqual(parseCgroup2Mount('50 1 0:38 / /mnt/my\\040cgroups rw - cgroup2 none rw'),
    { mountPoint: '/mnt/my cgroups', root: '/' });
  // A bind mount of a sub-cgroup (as inside a container) is used only when it is all there is.
  const sub = '60 1 0:38 /system.slice /srv/cg rw - cgroup2 cgroup2 rw';
  assert.deepEqual(parseCgroup2Mount(`${sub}\n${UNIFIED}`), { mountPoint: '/sys/fs/cgroup', root: '/' });
  assert.deepEqual(parseCgroup2Mount(sub), { mountPoint: '/srv/cg', root: '/system.slice' });
});

test('unifiedPathIn: the "0::" line of /proc/PID/cgroup', () => {
  assert.equal(unifiedPathIn('4:memory:/docker/x\n1:cpu:/\n0::/system.slice/docker-x.scope\n'), '/system.slice/docker-x.scope');
  assert.equal(unifiedPathIn('4:memory:/docker/x\n'), null);
  assert.equal(unifiedPathIn('0::/\n'), '/');
});

// ---- the walk, on a directory tree standing in for the hierarchy ------------------------

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-cgroups-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function makeTree(name: string, dirs: string[]): string {
  const top = path.join(dir, name);
  for (const d of dirs) fs.mkdirSync(path.join(top, d), { recursive: true });
  fs.mkdirSync(top, { recursive: true });
  return top;
}

const inode = (p: string) => fs.statSync(p).ino;

/** A tree whose clock the test moves. */
function treeOver(top: string, options: { maxDirs?: number } = {}) {
  const clock = { ms: 0 };
  const tree = new CgroupTree({ mountPoint: top, root: '/' }, { ...options, now: () => clock.ms });
  return { tree, clock };
}

test('CgroupTree: ids (directory inodes) to paths, containers from them; 0, null and strangers are null', () => {
  const top = makeTree('basic', [`system.slice/docker-${A}.scope`, 'user.slice/user-1000.slice']);
  const { tree } = treeOver(top);
  const scope = path.join(top, `system.slice/docker-${A}.scope`);
  assert.equal(tree.pathOf(inode(scope)), `/system.slice/docker-${A}.scope`);
  assert.equal(tree.containerOf(inode(scope)), A);
  assert.equal(tree.pathOf(inode(top)), '/');
  assert.equal(tree.containerOf(inode(path.join(top, 'user.slice/user-1000.slice'))), null);
  assert.equal(tree.pathOf(inode(path.join(top, 'user.slice/user-1000.slice'))), '/user.slice/user-1000.slice');
  assert.equal(tree.pathOf(null), null);
  assert.equal(tree.pathOf(0), null);
  assert.equal(tree.pathOf(inode(os.tmpdir())), null);
  assert.equal(tree.idOf('/system.slice'), inode(path.join(top, 'system.slice')));
  assert.equal(tree.idOf('/nope'), null);
});

test('CgroupTree: a cgroup made after a walk is found by the next walk, no sooner than a second later', () => {
  const top = makeTree('rewalk', ['a']);
  const { tree, clock } = treeOver(top);
  assert.equal(tree.pathOf(inode(path.join(top, 'a'))), '/a'); // walks at 0 ms
  fs.mkdirSync(path.join(top, 'b'));
  const b = inode(path.join(top, 'b'));
  clock.ms = 500;
  assert.equal(tree.pathOf(b), null, 'no walk within a second of the last');
  clock.ms = 999;
  assert.equal(tree.pathOf(b), null);
  clock.ms = 1000;
  assert.equal(tree.pathOf(b), '/b');
});

test('CgroupTree: an id a walk made after its lookup did not find is not walked for again', () => {
  const top = makeTree('gone', ['a']);
  const { tree, clock } = treeOver(top);
  const stranger = inode(os.tmpdir());
  assert.equal(tree.pathOf(stranger), null); // walk 1
  clock.ms = 5000;
  fs.mkdirSync(path.join(top, 'late'));
  // The stranger was looked for by a walk after its first lookup: no new walk for it...
  assert.equal(tree.pathOf(stranger), null);
  assert.equal(tree.pathOf(inode(path.join(top, 'late'))), '/late', '...but a new id still gets one');
});

test('CgroupTree: a walk stops at maxDirs', () => {
  const top = makeTree('bounded', ['a', 'b', 'c', 'd', 'e']);
  const { tree } = treeOver(top, { maxDirs: 3 });
  assert.equal(tree.all().size, 3);
  assert.equal(tree.truncated, true);
  const { tree: whole } = treeOver(top);
  assert.equal(whole.all().size, 6);
  assert.equal(whole.truncated, false);
});

test('CgroupTree without a cgroup2 hierarchy names nothing', () => {
  const tree = new CgroupTree(null);
  assert.equal(tree.pathOf(1), null);
  assert.equal(tree.containerOf(1), null);
});

test('CgroupTable (a recording\'s cgroup lines)', () => {
  const table = new CgroupTable();
  table.add(5, `/docker/${A}`);
  assert.equal(table.pathOf(5), `/docker/${A}`);
  assert.equal(table.containerOf(5), A);
  assert.equal(table.pathOf(6), null);
  assert.equal(table.pathOf(null), null);
  assert.equal(table.containerOf(0), null);
});

// ---- --cgroup -------------------------------------------------------------------------------

function assertUsageError(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TcptraceError, String(err));
    assert.equal(err.exitCode, 2);
    assert.ok(err.message.startsWith('--cgroup: '), err.message);
    assert.ok(err.message.includes(fragment), `"${err.message}" lacks "${fragment}"`);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
}

test('isWithin: the cgroup itself and below, not a sibling sharing a prefix', () => {
  assert.ok(isWithin('/a', '/a'));
  assert.ok(isWithin('/a/b/c', '/a'));
  assert.ok(!isWithin('/ab', '/a'));
  assert.ok(!isWithin('/', '/a'));
  assert.ok(isWithin('/anything', '/'));
});

test('parseCgroupSelection: paths relative to the mount, with it, or a container id prefix', () => {
  const top = makeTree('select', [
    `system.slice/docker-${A}.scope`, `machine.slice/libpod-${B}.scope/container`, `machine.slice/libpod-conmon-${B}.scope`,
    `kubepods/besteffort/pod1/${C}`, 'deadbeef',
  ]);
  const { tree } = treeOver(top);
  assert.equal(parseCgroupSelection('/system.slice', tree), '/system.slice');
  assert.equal(parseCgroupSelection('system.slice/', tree), '/system.slice');
  assert.equal(parseCgroupSelection(`${top}/machine.slice`, tree), '/machine.slice');
  assert.equal(parseCgroupSelection(top, tree), '/');
  assert.equal(parseCgroupSelection('/', tree), '/');
  // An id prefix: the container's own cgroup (its sub-cgroups are below it).
  assert.equal(parseCgroupSelection('aaaaaaaaaaaa1', tree), `/system.slice/docker-${A}.scope`);
  assert.equal(parseCgroupSelection('aaaaaaaaaaaa2', tree), `/machine.slice/libpod-${B}.scope`);
  assert.equal(parseCgroupSelection('ccc', tree), `/kubepods/besteffort/pod1/${C}`);
  assert.equal(parseCgroupSelection(C, tree), `/kubepods/besteffort/pod1/${C}`);
  // A directory by that name comes first.
  assert.equal(parseCgroupSelection('deadbeef', tree), '/deadbeef');

  // Their 12-hex ids are the same: the message gives the full ones.
  assertUsageError(() => parseCgroupSelection('aaaa', tree), `matches 2 containers (${A}, ${B}): give more of the id`);
  assertUsageError(() => parseCgroupSelection('/no/such', tree), `no cgroup /no/such under ${top}`);
  assertUsageError(() => parseCgroupSelection('b0b', tree), 'no container with an id starting b0b');
  assertUsageError(() => parseCgroupSelection(' ', tree), 'empty');
  assertUsageError(() => parseCgroupSelection('/x', new CgroupTree(null)), 'no cgroup2 hierarchy');
});

// ---- the filter -----------------------------------------------------------------------------

function event(cgroupId: number | null, pid: number | null = 7): TransitionEvent {
  return {
    kind: 'transition', tsNs: 1, skaddr: 'ffff1', sockId: 1, family: 4, saddr: '127.0.0.1', sport: 1, daddr: '127.0.0.1',
    dport: 2, netns: 1, oldstate: 1, newstate: 8, prevStateNs: null, pid, comm: null, cgroupId, ownerSource: null,
    inferred: false, txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
  };
}

test('CgroupFilter: owners in the cgroup or below; unknown owners and unknown cgroups are left out', () => {
  const table = new CgroupTable();
  table.add(10, '/kubepods');
  table.add(11, '/kubepods/besteffort/pod1');
  table.add(12, '/kubepods2');
  table.add(13, '/system.slice');
  const filter = new CgroupFilter(table, '/kubepods');
  assert.deepEqual([10, 11, 12, 13, 99].map((id) => filter.keepsEvent(event(id))), [true, true, false, false, false]);
  assert.equal(filter.keepsEvent(event(null, null)), false);
  assert.equal(filter.keepsOwner(0, 5), false);
  // An id learned later (a cgroup made since) is judged then: "not known" was not remembered as "no".
  table.add(99, '/kubepods/burstable/pod2');
  assert.equal(filter.keepsEvent(event(99)), true);
});

test('CgroupFilter.snapshot: the holders in the cgroup and the sockets they hold', () => {
  const table = new CgroupTable();
  table.add(10, '/in');
  table.add(20, '/out');
  const sock = (skaddr: string): SnapshotSocket => ({
    skaddr, sockId: 1, family: 4, saddr: '127.0.0.1', sport: 1, daddr: '127.0.0.1', dport: 2, netns: 1, uid: 0, inode: 1, state: 1,
  });
  const file = (skaddr: string, pid: number, cgroupId: number): SnapshotFile => ({ skaddr, sockId: 1, pid, fd: 3, comm: 'x', cgroupId });
  const filtered = new CgroupFilter(table, '/in').snapshot({
    sockets: [sock('s1'), sock('s2'), sock('s3'), sock('tw')],
    // s3 is shared: held inside and outside.
    files: [file('s1', 1, 10), file('s2', 2, 20), file('s3', 1, 10), file('s3', 2, 20)],
  });
  assert.deepEqual(filtered.sockets.map((s) => s.skaddr), ['s1', 's3']);
  assert.deepEqual(filtered.files.map((f) => [f.skaddr, f.pid]), [['s1', 1], ['s3', 1]]);
});
