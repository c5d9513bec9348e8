import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TcptraceError } from '../../src/errors';
import { holderOf, netnsInode, netnsLabel, ownNetns } from '../../src/host/netns';
import { parseNetns, tracerOptions } from '../../src/cli/options';

// A stand-in for /run/netns: links to namespace files (as `ip netns add` bind-mounts them),
// and a plain file, as a name whose mount is gone leaves behind.
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-netns-'));
fs.symlinkSync(`/proc/${process.pid}/ns/net`, path.join(runDir, 'mine'));
fs.writeFileSync(path.join(runDir, 'stale'), '');
after(() => fs.rmSync(runDir, { recursive: true, force: true }));

const OWN = fs.statSync('/proc/self/ns/net').ino;

function assertUsageError(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TcptraceError, String(err));
    assert.equal(err.exitCode, 2);
    assert.ok(err.message.startsWith('--netns: '), err.message);
    assert.ok(err.message.includes(fragment), `"${err.message}" lacks "${fragment}"`);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
}

test('netnsInode: an inode number as is; a name; pid:PID', () => {
  assert.equal(netnsInode('4026531840'), 4026531840);
  assert.equal(netnsInode('1'), 1);
  assert.equal(netnsInode('4294967295'), 4294967295);
  assert.equal(netnsInode('mine', runDir), OWN);
  assert.equal(netnsInode(`pid:${process.pid}`), OWN);
  assert.equal(ownNetns(), OWN);
});

test('netnsInode: bad values are usage errors naming the value', () => {
  assertUsageError(() => netnsInode('0'), '0 is out of range (1-4294967295)');
  assertUsageError(() => netnsInode('4294967296'), 'out of range');
  assertUsageError(() => netnsInode('nope', runDir), 'no network namespace named "nope" (see "ip netns list")');
  assertUsageError(() => netnsInode('stale', runDir), 'no network namespace named "stale"');
  assertUsageError(() => netnsInode('../etc', runDir), 'is not an inode number, a name from "ip netns list", or pid:PID');
  assertUsageError(() => netnsInode('..', runDir), 'is not an inode number');
  assertUsageError(() => netnsInode('pid:', runDir), 'needs a process id (pid:1234)');
  assertUsageError(() => netnsInode('pid:0', runDir), 'needs a process id');
  assertUsageError(() => netnsInode('pid:12x', runDir), 'needs a process id');
  assertUsageError(() => netnsInode('pid:2147483647'), 'no process 2147483647');
});

test('parseNetns: a comma list, duplicates removed, accumulated, at most 8, into the kernel filter', () => {
  assert.deepEqual(parseNetns('1, 2,2'), [1, 2]);
  assert.deepEqual(parseNetns(`pid:${process.pid}`, [1]), [1, OWN]);
  assertUsageError(() => parseNetns('1,2,3,4,5,6,7,8,9'), 'at most 8 values (got 9)');
  assertUsageError(() => parseNetns(' , '), 'empty list');
  assert.deepEqual(tracerOptions({ netns: [OWN, 7] }).netns, [OWN, 7]);
  assert.deepEqual(tracerOptions({}).netns, []);
});

test('holderOf and netnsLabel: an ip netns name first, then the pod (by its hostname, else its UID), then the container', () => {
  const proc = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-proc-'));
  after(() => fs.rmSync(proc, { recursive: true, force: true }));
  const ID = 'ab'.repeat(32);
  const UID = '5f1d2a3b-4c5d-6e7f-8a9b-0c1d2e3f4a5b';
  const podCgroup = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`;
  const process_ = (pid: number, cgroup: string, hostname?: string) => {
    fs.mkdirSync(path.join(proc, String(pid), 'root', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(proc, String(pid), 'cgroup'), `0::${cgroup}\n`);
    if (hostname !== undefined) fs.writeFileSync(path.join(proc, String(pid), 'root', 'etc', 'hostname'), hostname);
  };
  process_(100, podCgroup, 'web-7d9f\n');
  process_(101, podCgroup); // a pod whose hostname cannot be read
  process_(200, `/system.slice/docker-${ID}.scope`, 'ignored\n');
  process_(300, '/user.slice/user-1000.slice/session-2.scope', 'laptop\n');
  const holder = (pid: number | null, name: string | null = null) => holderOf({ inode: 7, path: '/x', name, pid }, proc);

  assert.deepEqual(holder(100), { inode: 7, name: null, pod: 'web-7d9f', podUid: UID, container: ID });
  assert.equal(netnsLabel(holder(100)), 'pod web-7d9f');
  assert.equal(netnsLabel(holder(101)), `pod ${UID}`);
  assert.deepEqual(holder(200), { inode: 7, name: null, pod: null, podUid: null, container: ID });
  assert.equal(netnsLabel(holder(200)), `container ${ID.slice(0, 12)}`, 'a container\'s hostname is not read: only a pod\'s names it');
  assert.equal(netnsLabel(holder(300)), null, 'a host process names nothing');
  assert.equal(netnsLabel(holder(100, 'blue')), 'blue', 'an ip netns name wins');
  assert.equal(netnsLabel(holder(null)), null, 'no process in it');
  assert.equal(netnsLabel(holder(999)), null, 'a process gone meanwhile');
});
