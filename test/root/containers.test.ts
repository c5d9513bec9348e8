/**
 * Container awareness on real namespaces and cgroups this test makes itself:
 * two network namespaces joined by a veth pair, and a cgroup named as docker
 * names a container's. Each transition must carry its socket's namespace and
 * its owner's cgroup, and --netns / --cgroup must keep exactly those.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { containerOfCgroupId, containerOfPid, findCgroup2Mount, hostCgroups, unifiedPathIn } from '../../src/host/cgroups';
import { TransitionEvent } from '../../src/kernel/decoder';
import { netnsInode } from '../../src/host/netns';
import { stateName, TCP } from '../../src/kernel/states';
import {
  bySocket, CLI, exitAll, FIXTURES, killStragglers, LineProcess, peer, Recorder, transitionsOf, until,
} from './helpers';

afterEach(killStragglers);

type JsonLine = Record<string, unknown>;

const TAG = randomBytes(3).toString('hex');
const PEER = path.join(FIXTURES, 'tcp-peer.js');

/** Starts `tcptrace ARGS -v`; resolves once it reports being attached. */
async function startCli(args: string[]): Promise<LineProcess> {
  const p = new LineProcess(process.execPath, [CLI, ...args, '-v']);
  await until(`tcptrace ${args.join(' ')} to attach`, () => /attached/.test(p.stderr), 10_000);
  return p;
}

async function stopCli(p: LineProcess): Promise<JsonLine[]> {
  p.child.kill('SIGINT');
  assert.equal(await p.exited(), 0, p.stderr);
  return p.messages as JsonLine[];
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A tcp-peer in network namespace `ns` (ip netns exec execs it: same pid). */
function peerIn(ns: string, role: 'server' | 'client', host: string, port: number): LineProcess {
  return new LineProcess('ip', ['netns', 'exec', ns, process.execPath, PEER, role, host, String(port), '--on-end', 'close']);
}

/** The transitions whose socket has `port` at either end, per socket. */
function socketsOnPort(events: TransitionEvent[], port: number): Map<number, TransitionEvent[]> {
  return bySocket(events.filter((e) => e.kind === 'transition' && (e.sport === port || e.dport === port)));
}

const STATE_NUMBERS = new Map(Array.from({ length: 14 }, (_, n) => [stateName(n), n]));

/** A `live --json` line as the event fields these checks read. */
function fromJson(l: JsonLine): TransitionEvent {
  return {
    ...l, kind: 'transition', sockId: l.sk, oldstate: STATE_NUMBERS.get(String(l.oldstate)), newstate: STATE_NUMBERS.get(String(l.newstate)),
  } as unknown as TransitionEvent;
}

function shapes(sockets: Map<number, TransitionEvent[]>): string[] {
  return [...sockets.values()].map((evs) => `${transitionsOf(evs).join(' ')} @${[...new Set(evs.map((e) => e.netns))].join(',')}`).sort();
}

/** A client connects to a server, closes first, and both see the end. */
async function closeByClient(server: LineProcess, client: LineProcess): Promise<void> {
  await client.next('connected');
  await server.next('accepted');
  client.send('close');
  await Promise.all([client.next('closed'), server.next('closed')]);
}

describe('network namespaces: a server in one, a client in the other, loopback inside one', () => {
  const nsA = `tcptrace-a-${TAG}`;
  const nsB = `tcptrace-b-${TAG}`;
  const vethA = `tta${TAG}`;
  const vethB = `ttb${TAG}`;
  const net = `10.231.${randomBytes(1)[0]}`;
  const addrA = `${net}.1`;
  let inodeA = 0;
  let inodeB = 0;

  before(() => {
    ip('netns', 'add', nsA);
    ip('netns', 'add', nsB);
    ip('link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB);
    ip('link', 'set', vethA, 'netns', nsA);
    ip('link', 'set', vethB, 'netns', nsB);
    ip('-n', nsA, 'addr', 'add', `${addrA}/30`, 'dev', vethA);
    ip('-n', nsB, 'addr', 'add', `${net}.2/30`, 'dev', vethB);
    for (const [ns, dev] of [[nsA, vethA], [nsB, vethB]]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    inodeA = fs.statSync(`/run/netns/${nsA}`).ino;
    inodeB = fs.statSync(`/run/netns/${nsB}`).ino;
  });

  after(() => {
    killStragglers();
    // Deleting a namespace deletes the veth end in it, and with it its peer.
    for (const ns of [nsA, nsB]) spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['link', 'del', vethA]); // only there if setup failed before moving it
  });

  /** The veth connection (B -> A) and a loopback one inside A; returns their server ports and peers' pids. */
  async function traffic(): Promise<{ vethPort: number; loPort: number; pids: Record<string, number> }> {
    const server = peerIn(nsA, 'server', addrA, 0);
    const loServer = peerIn(nsA, 'server', '127.0.0.1', 0);
    const vethPort = (await server.next('listening')).port as number;
    const loPort = (await loServer.next('listening')).port as number;
    // The namespace of a process, named as pid:PID.
    assert.equal(netnsInode(`pid:${server.pid}`), inodeA);
    const client = peerIn(nsB, 'client', addrA, vethPort);
    const loClient = peerIn(nsA, 'client', '127.0.0.1', loPort);
    await closeByClient(server, client);
    await closeByClient(loServer, loClient);
    await exitAll(server, client, loServer, loClient);
    return { vethPort, loPort, pids: { server: server.pid, client: client.pid, loServer: loServer.pid, loClient: loClient.pid } };
  }

  const CLIENT = 'CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE';
  const CHILD = 'LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE';
  const LISTENER = 'CLOSE>LISTEN LISTEN>CLOSE';

  test('each transition carries the namespace of its socket', async () => {
    // The kernel filter keeps both namespaces (and nothing of the host's, where the ports may be reused).
    const recorder = new Recorder({ netns: [inodeA, inodeB] });
    const { vethPort, loPort, pids } = await traffic();
    await recorder.waitFor('both connections and listeners to close', (events) =>
      shapes(socketsOnPort(events, vethPort)).length === 3 && shapes(socketsOnPort(events, loPort)).length === 3 &&
      [...socketsOnPort(events, vethPort).values(), ...socketsOnPort(events, loPort).values()]
        .every((evs) => stateName(evs[evs.length - 1].newstate) === 'CLOSE'));
    await recorder.stop();
    assert.ok(recorder.events.every((e) => e.netns === inodeA || e.netns === inodeB), 'the kernel filter kept only A and B');
    // Server side in A, client side in B; loopback in A, both sides.
    assert.deepEqual(shapes(socketsOnPort(recorder.events, vethPort)), [
      `${CLIENT} @${inodeB}`, `${LISTENER} @${inodeA}`, `${CHILD} @${inodeA}`,
    ].sort());
    assert.deepEqual(shapes(socketsOnPort(recorder.events, loPort)), [
      `${CLIENT} @${inodeA}`, `${LISTENER} @${inodeA}`, `${CHILD} @${inodeA}`,
    ].sort());
    // Owners are known inside namespaces too: each side's process, the listener's for a new child.
    const owners = (port: number, serverPid: number, clientPid: number) => [...socketsOnPort(recorder.events, port).values()]
      .map((evs) => [transitionsOf(evs)[0] === 'CLOSE>SYN_SENT' ? clientPid : serverPid, [...new Set(evs.map((e) => e.pid))]]);
    for (const [expected, seen] of [...owners(vethPort, pids.server, pids.client), ...owners(loPort, pids.loServer, pids.loClient)]) {
      assert.deepEqual(seen, [expected]);
    }
  });

  test('live --json --netns NAME shows that namespace\'s transitions only', async () => {
    const live = await startCli(['live', '--json', '--netns', nsA]);
    const both = await startCli(['live', '--events', '--netns', `${nsA},${inodeB}`]);
    const { vethPort, loPort } = await traffic();
    const closed = (m: JsonLine) => m.newstate === 'CLOSE' && (m.sport === vethPort || m.sport === loPort || m.dport === loPort);
    // Namespace A's five sockets: two listeners, two server children, the loopback client.
    await until('namespace A\'s sockets to close', () => live.messages.filter(closed).length === 5);
    await until('the other tracer to see them', () => both.messages.filter((m) => / -> CLOSE /.test(String(m.text))).length >= 6);
    const lines = (await stopCli(live)).map(fromJson);
    assert.ok(lines.length > 0 && lines.every((l) => l.netns === inodeA), 'every line is of namespace A');
    // The veth connection's client side (in B) is not there; A's sockets are, whole.
    assert.deepEqual(shapes(socketsOnPort(lines, vethPort)), [`${LISTENER} @${inodeA}`, `${CHILD} @${inodeA}`].sort());
    assert.deepEqual(shapes(socketsOnPort(lines, loPort)), [
      `${CLIENT} @${inodeA}`, `${LISTENER} @${inodeA}`, `${CHILD} @${inodeA}`,
    ].sort());

    // Two namespaces selected: the text says which each line is in.
    const text = (await stopCli(both)).map((m) => String(m.text));
    assert.match(text[0], /^TIME +PID COMM +NETNS LADDR:LPORT/);
    const netnsColumn = text[0].indexOf('NETNS') + 'NETNS'.length;
    const ours = text.slice(1).filter((l) => l.includes(`:${vethPort} `));
    const columnOf = (l: string) => l.slice(netnsColumn - 10, netnsColumn);
    assert.deepEqual([...new Set(ours.map(columnOf))].sort(), [String(inodeA), String(inodeB)].sort());
    assert.ok(ours.filter((l) => / SYN_SENT /.test(l)).every((l) => columnOf(l) === String(inodeB)), 'the client is in B');
  });
});

describe('cgroups: a client in a cgroup named as docker names a container\'s', () => {
  const mount = findCgroup2Mount();
  const containerId = randomBytes(32).toString('hex');
  const short = containerId.slice(0, 12);
  const top = `/tcptrace-test-${TAG}`;
  const scope = `${top}/docker-${containerId}.scope`;
  const dirOf = (p: string) => path.join(mount!.mountPoint, p);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-containers-'));
  let scopeId = 0;

  before(() => {
    assert.ok(mount, 'a cgroup2 hierarchy is mounted');
    fs.mkdirSync(dirOf(scope), { recursive: true });
    scopeId = fs.statSync(dirOf(scope)).ino;
  });

  after(async () => {
    killStragglers();
    // rmdir needs the cgroups empty: move anything left to the root, then wait for exits.
    const procs = path.join(dirOf(scope), 'cgroup.procs');
    const left = () => (fs.existsSync(procs) ? fs.readFileSync(procs, 'utf8').split('\n').filter(Boolean) : []);
    for (const pid of left()) {
      try { fs.writeFileSync(path.join(mount!.mountPoint, 'cgroup.procs'), pid); } catch { /* exited meanwhile */ }
    }
    await until('the test cgroup to be empty', () => left().length === 0, 5000).catch(() => undefined);
    for (const p of [scope, top]) {
      try { fs.rmdirSync(dirOf(p)); } catch { /* already gone */ }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A tcp-peer client that joins the test cgroup before it starts (then execs node: same pid). */
  function clientInCgroup(port: number): LineProcess {
    const procs = path.join(dirOf(scope), 'cgroup.procs');
    return new LineProcess('sh', ['-c', `echo $$ > "${procs}" && exec "${process.execPath}" "${PEER}" client 127.0.0.1 ${port} --on-end hold`]);
  }

  test('its transitions carry the cgroup; paths and container ids resolve; exported helpers agree', async () => {
    const server = peer('server', '127.0.0.1', 0);
    const port = (await server.next('listening')).port as number;
    const recorder = new Recorder({ ports: [port] });
    const client = clientInCgroup(port);
    await client.next('connected');
    await server.next('accepted');
    client.send('close');
    await Promise.all([client.next('closed'), server.next('closed')]);
    await recorder.waitFor('both sides to close', (events) => events.filter((e) => e.newstate === TCP.CLOSE).length >= 2);
    await recorder.stop();

    const sockets = [...socketsOnPort(recorder.events, port).values()].filter((evs) => transitionsOf(evs)[0] !== 'CLOSE>LISTEN');
    const clientSocket = sockets.find((evs) => transitionsOf(evs)[0] === 'CLOSE>SYN_SENT')!;
    const serverChild = sockets.find((evs) => transitionsOf(evs)[0] === 'LISTEN>SYN_RECV')!;
    assert.ok(clientSocket && serverChild, JSON.stringify(sockets.map(transitionsOf)));
    assert.deepEqual([...new Set(clientSocket.map((e) => [e.pid, e.cgroupId].join(' ')))], [`${client.pid} ${scopeId}`]);
    // The server runs where this test runs.
    const ownCgroupId = fs.statSync(dirOf(unifiedPathIn(fs.readFileSync('/proc/self/cgroup', 'utf8'))!)).ino;
    assert.deepEqual([...new Set(serverChild.map((e) => [e.pid, e.cgroupId].join(' ')))], [`${server.pid} ${ownCgroupId}`]);

    assert.equal(hostCgroups().pathOf(scopeId, client.pid), scope);
    assert.equal(hostCgroups().containerOf(scopeId), containerId);
    assert.equal(containerOfCgroupId(scopeId), containerId);
    assert.equal(containerOfPid(client.pid), containerId);
    assert.equal(containerOfPid(server.pid), null);
    await exitAll(server, client);
  });

  test('--cgroup keeps only its owners: live, live --events, life, culprits, a recording', async () => {
    const server = peer('server', '127.0.0.1', 0);
    const port = (await server.next('listening')).port as number;
    const trace = path.join(tmp, 'cgroup.jsonl');
    const live = await startCli(['live', '--json', '--cgroup', scope, '-P', String(port)]);
    const events = await startCli(['live', '--events', '--cgroup', short, '-P', String(port)]);
    const life = await startCli(['life', '--json', '--cgroup', dirOf(scope), '-P', String(port)]);
    const record = await startCli(['record', '-o', trace, '--cgroup', short, '-P', String(port)]);
    // A capture's records are filtered before the addon writes them, by the same rule.
    const capture = path.join(tmp, 'cgroup.tcap');
    const recordCapture = await startCli(['record', '-o', capture, '--cgroup', short, '-P', String(port)]);

    // The server closes first; the client holds CLOSE_WAIT (a leak), then closes.
    const client = clientInCgroup(port);
    await client.next('connected');
    await server.next('accepted');
    server.send('close');
    await client.next('peer-ended');
    const culprits = spawnSync(process.execPath, [CLI, 'culprits', '--json', '--cgroup', short, '-d', '0.5'], { encoding: 'utf8', timeout: 30_000 });
    const culpritsText = spawnSync(process.execPath, [CLI, 'culprits', '--cgroup', scope, '-d', '0.5'], { encoding: 'utf8', timeout: 30_000 });
    client.send('close');
    await client.next('closed');
    await until('the client socket to close', () => live.messages.some((m) => m.newstate === 'CLOSE'));
    await until('life to report it', () => life.messages.length > 0);
    await until('live --events to show it', () => events.messages.some((m) => / -> CLOSE /.test(String(m.text))));
    await until('the recording to hold it', () => (fs.readFileSync(trace, 'utf8').match(/"type":"event"/g) ?? []).length >= 5);
    await exitAll(server, client);

    // live --json: the client's socket, whole, and nothing of the server's.
    const lines = await stopCli(live);
    assert.deepEqual(lines.map((l) => `${l.oldstate}>${l.newstate}`),
      ['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE']);
    for (const l of lines) {
      assert.deepEqual([l.pid, l.cgroupId, l.cgroup, l.container], [client.pid, scopeId, scope, short], JSON.stringify(l));
    }

    // live --events: a CONTAINER column, as --cgroup selects a container.
    const text = (await stopCli(events)).map((m) => String(m.text));
    assert.match(text[0], /^TIME +PID COMM +CONTAINER +LADDR:LPORT/);
    assert.equal(text.length, 6, text.join('\n'));
    for (const l of text.slice(1)) assert.equal(l.slice(text[0].indexOf('CONTAINER'), text[0].indexOf('CONTAINER') + 12), short, l);

    // life --json: the client's connection, with its container.
    const ended = await stopCli(life);
    assert.equal(ended.length, 1, JSON.stringify(ended));
    assert.deepEqual([ended[0].pid, ended[0].cgroup, ended[0].container, ended[0].ending], [client.pid, scope, short, 'passive']);

    // culprits: only the holder in the cgroup, named with its container.
    assert.equal(culprits.status, 0, culprits.stderr);
    const report = JSON.parse(culprits.stdout) as { culprits: { pid: number; cgroup: string; container: string; count: number }[] };
    assert.deepEqual(report.culprits.map((c) => [c.pid, c.cgroup, c.container, c.count]), [[client.pid, scope, short, 1]]);
    assert.equal(culpritsText.status, 0, culpritsText.stderr);
    assert.ok(culpritsText.stdout.split('\n').some((l) => l.startsWith(`PID ${client.pid}  container ${short}  `)), culpritsText.stdout);

    // The recording names the cgroup; a report from it names the container without the host's cgroups.
    await stopCli(record);
    const recorded = fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine);
    assert.deepEqual(recorded.filter((l) => l.type === 'cgroup'), [{ type: 'cgroup', id: scopeId, path: scope }]);
    assert.ok(recorded.filter((l) => l.type === 'event').every((l) => l.cgroupId === scopeId));
    const again = spawnSync(process.execPath, [CLI, 'report', trace, 'life', '--json'], { encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    const fromFile = again.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
    assert.deepEqual(fromFile.map((l) => [l.pid, l.cgroup, l.container]), [[client.pid, scope, short]]);
    await stopCli(recordCapture);
    const fromCapture = spawnSync(process.execPath, [CLI, 'report', capture, 'life', '--json'], { encoding: 'utf8' });
    assert.equal(fromCapture.status, 0, fromCapture.stderr);
    // Two tracers: their own socket ids and clock readings; all else alike.
    const timeless = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as JsonLine)
      .map(({ ts: _t, sk: _s, lifetimeMs: _l, stateMs, ...rest }) => ({ ...rest, states: Object.keys(stateMs as object) }));
    assert.deepEqual(timeless(fromCapture.stdout), timeless(again.stdout), 'the capture holds the same connection, named alike');
    const exported = spawnSync(process.execPath, [CLI, 'export', capture, '--jsonl'], { encoding: 'utf8' });
    assert.deepEqual(exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine).map((l) => [l.pid, l.cgroupId, l.cgroup, l.container]),
      Array(5).fill([client.pid, scopeId, scope, short]), exported.stdout);
    const againText = spawnSync(process.execPath, [CLI, 'report', trace, 'life'], { encoding: 'utf8' });
    assert.match(againText.stdout, /^TIME +PID COMM +CONTAINER +LADDR:LPORT/);
    assert.ok(againText.stdout.includes(`${client.pid} node            ${short} `), againText.stdout);
  });

  test('a --cgroup that names nothing is a usage error, one line, exit 2', () => {
    for (const [value, message] of [
      [`${top}/nope`, `--cgroup: no cgroup ${top}/nope under ${mount!.mountPoint}`],
      ['f0f0f0f0f0f0f0f0f0f0', '--cgroup: no cgroup /f0f0f0f0f0f0f0f0f0f0 and no container with an id starting f0f0f0f0f0f0f0f0f0f0'],
    ]) {
      const r = spawnSync(process.execPath, [CLI, 'live', '--json', '--cgroup', value, '-d', '1'], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.ok(r.stderr.startsWith(`tcptrace: ${message}`), r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
