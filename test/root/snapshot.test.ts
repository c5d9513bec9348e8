/**
 * `tcptrace snapshot` against real loopback sockets in LISTEN, ESTABLISHED,
 * CLOSE_WAIT, FIN_WAIT2 (a full socket, and an orphan the kernel keeps as a
 * timewait socket) and TIME_WAIT: the counts agree with `ss -tan state ...`,
 * filtered to this test's own ports (the machine is shared), and nothing
 * stays loaded afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { buildSnapshotReport } from '../../src/model/snapshot-report';
import { readSettings } from '../../src/host/settings';
import { TraceSession } from '../../src/kernel/session';
import { SS_STATES, stateName, TCP } from '../../src/kernel/states';
import { bpfProgramIdsOf, CLI, killStragglers, LineProcess, peer, TestNetns, until } from './helpers';

type Json = Record<string, any>;

/** ss's name for each state, as `ss state NAME` takes it. */
const SS_NAMES: Record<number, string> = {
  [TCP.ESTABLISHED]: 'established', [TCP.SYN_SENT]: 'syn-sent', [TCP.SYN_RECV]: 'syn-recv', [TCP.FIN_WAIT1]: 'fin-wait-1',
  [TCP.FIN_WAIT2]: 'fin-wait-2', [TCP.TIME_WAIT]: 'time-wait', [TCP.CLOSE]: 'closed', [TCP.CLOSE_WAIT]: 'close-wait',
  [TCP.LAST_ACK]: 'last-ack', [TCP.LISTEN]: 'listening', [TCP.CLOSING]: 'closing',
};

function portFilter(ports: number[], ends: ('sport' | 'dport')[] = ['sport', 'dport']): string {
  return `( ${ports.flatMap((p) => ends.map((end) => `${end} = :${p}`)).join(' or ')} )`;
}

/** Sockets per state name, as `ss -tan state X FILTER` counts them, one ss run per state. */
function ssCounts(filter: string): Record<string, number> {
  return Object.fromEntries(SS_STATES.map((state) => {
    const out = execFileSync('ss', ['-tanH', 'state', SS_NAMES[state], filter], { encoding: 'utf8' });
    return [stateName(state), out.split('\n').filter(Boolean).length];
  }));
}

const processes: LineProcess[] = [];
let holdPort = 0, closePort = 0;
const pids: Record<string, number> = {};

async function client(port: number): Promise<LineProcess> {
  const c = peer('client', '127.0.0.1', port);
  processes.push(c);
  await c.next('connected');
  return c;
}

/**
 * Two servers: one holds the sockets its peers close (CLOSE_WAIT), one closes
 * back. Four clients: one stays ESTABLISHED; one shuts down its side
 * (FIN_WAIT2, fd still open); one shuts down and exits (an orphan in
 * FIN_WAIT2, kept as a timewait socket); one closes towards the server that
 * closes back (TIME_WAIT).
 */
async function makeSockets(): Promise<void> {
  const holder = peer('server', '127.0.0.1', 0, 'hold');
  const closer = peer('server', '127.0.0.1', 0, 'close');
  processes.push(holder, closer);
  holdPort = (await holder.next('listening')).port as number;
  closePort = (await closer.next('listening')).port as number;
  pids.holder = holder.pid;
  pids.closer = closer.pid;

  const established = await client(holdPort);
  pids.established = established.pid;
  const halfClosed = await client(holdPort);
  pids.halfClosed = halfClosed.pid;
  halfClosed.send('close');
  const exited = await client(holdPort);
  exited.send('close');
  await until('three accepted and two FINs at the holder', () =>
    holder.messages.filter((m) => m.event === 'accepted').length === 3 && holder.messages.filter((m) => m.event === 'peer-ended').length === 2);
  exited.send('exit');
  await exited.exited();
  const timeWait = await client(closePort);
  timeWait.send('close');
  await timeWait.next('closed');
  await until('everything settled as ss sees it', () => {
    const c = ssCounts(portFilter([holdPort, closePort]));
    return c.TIME_WAIT === 1 && c.FIN_WAIT2 === 2 && c.CLOSE_WAIT === 2;
  });
}

const EXPECTED = {
  ESTABLISHED: 2, SYN_SENT: 0, SYN_RECV: 0, FIN_WAIT1: 0, FIN_WAIT2: 2, TIME_WAIT: 1, CLOSE: 0,
  CLOSE_WAIT: 2, LAST_ACK: 0, LISTEN: 2, CLOSING: 0,
};

describe('tcptrace snapshot', () => {
  before(makeSockets);
  after(() => {
    for (const p of processes) p.child.kill('SIGKILL');
    killStragglers();
  });

  test('per state, this test\'s sockets are counted exactly as ss -tan state ... counts them', () => {
    const settings = readSettings();
    const snapshot = TraceSession.snapshotOnce();
    const mine = (s: { sport: number; dport: number }) => [holdPort, closePort].some((p) => s.sport === p || s.dport === p);
    const report = buildSnapshotReport({
      snapshot: { sockets: snapshot.sockets.filter(mine), files: snapshot.files }, netns: settings.netns,
      ephemeral: settings.ephemeral, reserved: settings.reserved, cmdlineOf: () => '',
    });
    const ss = ssCounts(portFilter([holdPort, closePort]));
    assert.deepEqual(report.states, ss, 'tcptrace vs ss');
    assert.deepEqual(report.states, EXPECTED, 'and both are what the test made');
    assert.equal(report.timewaitSockets, 2, 'the TIME_WAIT and the orphan in FIN_WAIT2');
    assert.deepEqual(report.timewait.map((g) => [g.side, g.state, g.dport]).sort(), [
      ['client', 'FIN_WAIT2', holdPort], ['client', 'TIME_WAIT', closePort],
    ]);
  });

  test('the command: listening ports and owning processes as ss -p sees them', () => {
    const result = spawnSync(process.execPath, [CLI, 'snapshot', '--json'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Json;
    for (const port of [holdPort, closePort]) {
      const row = report.byPort.find((p: Json) => p.port === port);
      const ss = Object.fromEntries(Object.entries(ssCounts(portFilter([port], ['sport']))).filter(([, n]) => n > 0));
      assert.deepEqual(row.states, ss, `local port ${port}`);
      assert.equal(row.listening, true);
    }
    const byPid = (pid: number) => report.byProcess.find((p: Json) => p.pid === pid)?.states;
    assert.deepEqual(byPid(pids.holder), { LISTEN: 1, ESTABLISHED: 1, CLOSE_WAIT: 2 });
    assert.deepEqual(byPid(pids.closer), { LISTEN: 1 });
    assert.deepEqual(byPid(pids.established), { ESTABLISHED: 1 });
    assert.deepEqual(byPid(pids.halfClosed), { FIN_WAIT2: 1 });
    const listener = report.listeners.find((l: Json) => l.sport === holdPort);
    assert.deepEqual([listener.pid, listener.acceptQueue], [pids.holder, 0]);
    assert.ok(listener.acceptQueueLimit > 0);
    assert.ok(report.sockets >= 9 && report.states.LISTEN >= 2, 'machine-wide totals include our 9');
    const inode = /\[(\d+)\]/.exec(execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }))![1];
    assert.equal(report.netns, Number(inode));
  });

  test('text output names the namespace and shows every section', () => {
    const result = spawnSync(process.execPath, [CLI, 'snapshot'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    for (const heading of ['Sockets by state, as ss -tan counts them', 'Ephemeral ports', 'Timewait sockets by endpoint',
      'By owning process', 'By remote peer', 'By local port']) {
      assert.ok(result.stdout.includes(heading), heading);
    }
    assert.match(result.stdout, /TCP sockets in network namespace net:\[\d+\]/);
    const byPid = spawnSync(process.execPath, [CLI, 'snapshot', '--by', 'pid'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(byPid.status, 0, byPid.stderr);
    assert.match(byPid.stdout, new RegExp(`^\\s+${pids.holder}\\s+\\S*node \\S*tcp-peer`, 'm'));
    assert.ok(!byPid.stdout.includes('By remote peer'));
  });

  test('in another network namespace it sees that namespace only', () => {
    const result = spawnSync('unshare', ['--net', process.execPath, CLI, 'snapshot', '--json'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Json;
    assert.equal(report.sockets, 0);
    assert.notEqual(report.netns, readSettings().netns);
  });

  test('a snapshot loads only the iterators, and nothing stays loaded after it', () => {
    const session = TraceSession.open({ iteratorsOnly: true });
    const ids = bpfProgramIdsOf(process.pid);
    const names = ids.map((id) => JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' })).name).sort();
    void session.stop();
    assert.deepEqual(names, ['count_states', 'snapshot_files', 'snapshot_socks']);
    assert.deepEqual(bpfProgramIdsOf(process.pid), [], 'unloaded by stop()');
    TraceSession.snapshotOnce();
    assert.deepEqual(bpfProgramIdsOf(process.pid), [], 'snapshotOnce leaves nothing loaded');
  });
});

describe('every network namespace', () => {
  let ns: TestNetns, server: LineProcess, client: LineProcess, port: number, clientPort: number;

  before(async () => {
    ns = new TestNetns(`tcptrace-leak-${process.pid}`);
    // A CLOSE_WAIT leak inside the namespace, made before tracing starts.
    server = ns.peer('server', '127.0.0.1', 0, 'hold');
    port = (await server.next('listening')).port as number;
    client = ns.peer('client', '127.0.0.1', port, 'hold');
    clientPort = (await client.next('connected')).localPort as number;
    await server.next('accepted');
    server.send('close');
    await client.next('peer-ended');
  });

  after(() => ns?.close());

  test('a walk of every namespace finds a leak inside one, with its holder and owner; a walk of our own does not', () => {
    const { inode } = ns;
    const session = TraceSession.open({ iteratorsOnly: true, everyNetns: true });
    try {
      const every = session.snapshot();
      const leak = every.sockets.find((s) => s.netns === inode && s.state === TCP.CLOSE_WAIT && s.sport === clientPort);
      assert.ok(leak, `the CLOSE_WAIT socket in ${ns.name} (net:[${inode}])`);
      assert.equal(leak.dport, port);
      const holders = every.files.filter((f) => f.sockId === leak.sockId && f.sockId !== 0);
      assert.deepEqual(holders.map((f) => f.pid), [client.child.pid], 'its holder, joined by socket id');
      assert.ok(every.sockets.some((s) => s.netns === inode && s.state === TCP.LISTEN && s.sport === port), 'its listener');
      assert.ok(every.sockets.some((s) => s.netns !== inode), 'and our own namespace too');
      // The state counts of that namespace, as the kernel counts them there.
      const [{ counts }] = session.stateCountsIn([{ inode, path: `/run/netns/${ns.name}` }]);
      assert.deepEqual([counts[TCP.CLOSE_WAIT], counts[TCP.FIN_WAIT2], counts[TCP.LISTEN], counts[TCP.ESTABLISHED]], [1, 1, 1, 0]);
    } finally {
      void session.stop();
    }
    const own = TraceSession.snapshotOnce();
    assert.ok(!own.sockets.some((s) => s.netns === inode), 'our own namespace only, by default');
  });

  test('the command counts the other namespaces, by name, state and holder; its own in full as before', () => {
    const { inode } = ns;
    const json = spawnSync(process.execPath, [CLI, 'snapshot', '--json'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(json.status, 0, json.stderr);
    const report = JSON.parse(json.stdout) as Json;
    const row = report.otherNamespaces.find((r: Json) => r.netns === inode);
    assert.ok(row, `net:[${inode}] among ${JSON.stringify(report.otherNamespaces.map((r: Json) => r.netns))}`);
    // The leak: the client's CLOSE_WAIT, the server's FIN_WAIT2, its listener.
    assert.deepEqual([row.name, row.states.CLOSE_WAIT, row.states.FIN_WAIT2, row.states.LISTEN, row.sockets], [ns.name, 1, 1, 1, 3]);
    assert.ok(row.holders.includes('node'), JSON.stringify(row.holders));
    assert.ok(!report.byPort.some((p: Json) => p.port === port), 'its sockets are not counted as our own');
    const text = spawnSync(process.execPath, [CLI, 'snapshot'], { encoding: 'utf8', timeout: 30_000 });
    assert.match(text.stdout, new RegExp(`^  net:\\[${inode}\\]\\s+${ns.name}\\s`, 'm'), text.stdout);
  });
});
