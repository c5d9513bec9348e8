/**
 * State counts per network namespace (the live view's and serve's): every
 * namespace of the host by default, each named by its `ip netns` name or by
 * the container a process in it runs in; --netns and --cgroup pick which.
 * The namespaces and their sockets are made before tcptrace starts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostCgroups } from '../../src/host/cgroups';
import { CgroupFilter } from '../../src/kernel/cgroup-filter';
import { TCP } from '../../src/kernel/states';
import { SessionOptions } from '../../src/kernel/session';
import { LiveSource, NamespaceCounts } from '../../src/source/live';
import { CLI, FIXTURES, killStragglers, LineProcess, TestNetns, until } from './helpers';

/** Counts once, with a source opened with these options (attached, then detached). */
async function countedWith(options: SessionOptions): Promise<NamespaceCounts[]> {
  const source = LiveSource.open(options, {});
  try {
    return source.stateCounts();
  } finally {
    await source.close();
  }
}

const stateOf = (row: NamespaceCounts | undefined, state: number) => row?.counts[state];

describe('state counts per network namespace', () => {
  const cgroupRoot = hostCgroups().mount!.mountPoint;
  const containerId = randomBytes(32).toString('hex');
  const containerCgroup = `/docker-${containerId}.scope`;
  let named: TestNetns;
  let leakHolder: number;
  let container: { holder: LineProcess; peers: LineProcess[]; inode: number };

  before(async () => {
    // A named namespace with a CLOSE_WAIT leak: listener, the client's CLOSE_WAIT, the server's FIN_WAIT2.
    named = new TestNetns(`tcptrace-counts-${process.pid}`);
    const server = named.peer('server', '127.0.0.1', 0, 'hold');
    const port = (await server.next('listening')).port as number;
    const client = named.peer('client', '127.0.0.1', port, 'hold');
    await client.next('connected');
    await server.next('accepted');
    server.send('close');
    await client.next('peer-ended');
    leakHolder = client.pid;

    // A "container": a namespace no `ip netns` name holds, its processes in a
    // cgroup named as docker names its containers', one connection established.
    fs.mkdirSync(path.join(cgroupRoot, containerCgroup));
    const holder = new LineProcess('unshare', ['-n', 'sh', '-c', 'ip link set lo up && echo \'{"event":"up"}\' && exec sleep 120']);
    await holder.next('up');
    fs.writeFileSync(path.join(cgroupRoot, containerCgroup, 'cgroup.procs'), String(holder.pid));
    const inside = (role: 'server' | 'client', p: number) =>
      new LineProcess('nsenter', ['-t', String(holder.pid), '-n', process.execPath, path.join(FIXTURES, 'tcp-peer.js'), role, '127.0.0.1', String(p), '--on-end', 'hold']);
    const cServer = inside('server', 0);
    const cPort = (await cServer.next('listening')).port as number;
    const cClient = inside('client', cPort);
    await cClient.next('connected');
    await cServer.next('accepted');
    for (const p of [cServer, cClient]) fs.writeFileSync(path.join(cgroupRoot, containerCgroup, 'cgroup.procs'), String(p.pid));
    container = { holder, peers: [cServer, cClient], inode: fs.statSync(`/proc/${holder.pid}/ns/net`).ino };
  });

  after(async () => {
    for (const p of container?.peers ?? []) p.send('exit');
    await Promise.all((container?.peers ?? []).map((p) => p.exited()));
    container?.holder.child.kill('SIGKILL');
    await container?.holder.exited();
    try {
      fs.rmdirSync(path.join(cgroupRoot, containerCgroup));
    } catch { /* its last process may take a moment to leave; the next run's id differs */ }
    await named?.close();
    killStragglers();
  });

  test('by default every namespace is counted, each with its own sockets and what names it', async () => {
    const rows = await countedWith({});
    const ofNamed = rows.find((r) => r.netns === named.inode);
    const ofContainer = rows.find((r) => r.netns === container.inode);
    assert.deepEqual([TCP.LISTEN, TCP.CLOSE_WAIT, TCP.FIN_WAIT2, TCP.ESTABLISHED].map((s) => stateOf(ofNamed, s)), [1, 1, 1, 0], 'the leak, counted where it is');
    assert.equal(ofNamed?.holder.name, named.name);
    assert.equal(ofNamed?.own, false);
    assert.deepEqual([TCP.LISTEN, TCP.ESTABLISHED, TCP.CLOSE_WAIT].map((s) => stateOf(ofContainer, s)), [1, 2, 0], 'the container\'s connection');
    assert.equal(ofContainer?.holder.container, containerId, 'named by the container a process in it runs in');
    assert.equal(rows.filter((r) => r.own).length, 1, "tcptrace's own namespace too");
  });

  test('--netns counts only those; --cgroup only the namespaces its processes are in', async () => {
    assert.deepEqual((await countedWith({ netns: [named.inode] })).map((r) => r.netns), [named.inode]);
    const cgroup = new CgroupFilter(hostCgroups(), containerCgroup);
    const inCgroup = await countedWith({ cgroup });
    assert.deepEqual(inCgroup.map((r) => [r.netns, r.counts[TCP.ESTABLISHED]]), [[container.inode, 2]]);
    // Both: what both allow, here nothing.
    assert.deepEqual(await countedWith({ cgroup, netns: [named.inode] }), []);
  });

  test('serve: a gauge per namespace and state, and an info line naming each', async () => {
    const serve = new LineProcess(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--interval', '0.5', '-v']);
    try {
      await until('tcptrace serve to serve', () => /serving metrics at/.test(serve.stderr) || serve.child.exitCode !== null, 15_000);
      const url = /serving metrics at (http:\/\/\S+\/metrics)/.exec(serve.stderr)?.[1];
      assert.ok(url, serve.stderr);
      const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
      const value = (line: string) => new RegExp(`^${line.replace(/[{}[\]()]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1];
      assert.equal(value(`tcptrace_sockets{netns="${named.inode}",state="CLOSE_WAIT"}`), '1', text);
      assert.equal(value(`tcptrace_sockets{netns="${container.inode}",state="ESTABLISHED"}`), '2');
      assert.equal(value(`tcptrace_netns_info{netns="${named.inode}",name="${named.name}",pod="",pod_uid="",container="",own="false"}`), '1');
      assert.equal(value(`tcptrace_netns_info{netns="${container.inode}",name="",pod="",pod_uid="",container="${containerId}",own="false"}`), '1');
      // The leak's holder, found by the walk of every namespace.
      assert.match(text, new RegExp(`^tcptrace_close_wait_held_sockets\\{pid="${leakHolder}",comm="node",container="",service="127\\.0\\.0\\.1:\\d+"\\} 1$`, 'm'));
    } finally {
      serve.child.kill('SIGINT');
      await serve.exited();
    }
  });
});
