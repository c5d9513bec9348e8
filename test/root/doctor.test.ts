/**
 * `tcptrace doctor` on a host with a TIME_WAIT storm, a CLOSE_WAIT leak and
 * an overflowing listen queue, all made here on loopback by separate
 * processes: each is reported, with the side and process that closed first,
 * the process that leaks, and the listener whose own backlog is too small.
 * Findings are picked out by this test's ports and pids (the machine is shared).
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import * as fs from 'node:fs';
import { CLI, FIXTURES, LineProcess, connectPair, exitAll, killStragglers, peer, until } from './helpers';

type Json = Record<string, any>;

const started: LineProcess[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const p of started.splice(0)) p.child.kill('SIGKILL');
  for (const s of sockets.splice(0)) s.destroy();
  killStragglers();
});

function track(p: LineProcess): LineProcess {
  started.push(p);
  return p;
}

const STORM = 3000;

/** The host's TcpExt ListenOverflows now (/proc/net/netstat). */
function listenOverflows(): number {
  const [names, values] = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  return Number(values.split(/\s+/)[names.split(/\s+/).indexOf('ListenOverflows')]);
}

/** A listener with a backlog of 1 that never accepts (Python: the backlog is exactly what it asks). */
async function stuckListener(): Promise<{ listener: LineProcess; port: number }> {
  const code = 'import json,socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(1)\n' +
    'print(json.dumps({"event":"listening","port":s.getsockname()[1]}),flush=True)\ntime.sleep(60)';
  const listener = track(new LineProcess('python3', ['-c', code]));
  return { listener, port: (await listener.next('listening')).port as number };
}

describe('tcptrace doctor', () => {
  test('reports the TIME_WAIT storm on the side that closed first, the CLOSE_WAIT leaker, and the small backlog', async () => {
    // The storm's server answers FINs; the storm's client (another process) closes first.
    const server = track(peer('server', '127.0.0.1', 0, 'close'));
    const stormPort = (await server.next('listening')).port as number;
    // The leak: a server that will close, and a pool that never closes its side.
    const leakServer = track(peer('server', '127.0.0.1', 0, 'hold'));
    const leakPort = (await leakServer.next('listening')).port as number;
    const pool = track(new LineProcess(process.execPath, [path.join(FIXTURES, 'pool-client.js'), '127.0.0.1', String(leakPort), '5']));
    await pool.next('connected');
    await until('five accepted', () => leakServer.messages.filter((m) => m.event === 'accepted').length === 5);
    const { listener, port: stuckPort } = await stuckListener();

    // Stopped (Ctrl-C) once the storm is done and the leak and the overflow are in place, not after a fixed window.
    const doctor = track(new LineProcess(process.execPath, [CLI, 'doctor', '--json', '-d', '600', '-v']));
    await until('tcptrace to attach', () => /attached/.test(doctor.stderr), 15_000);

    const storm = track(new LineProcess(process.execPath, [path.join(FIXTURES, 'storm.js'), '127.0.0.1', String(STORM), '50',
      '--closer', 'client', '--port', String(stormPort)]));
    await until('storm ready', () => storm.messages.some((m) => 'port' in m));
    storm.send('go');
    leakServer.send('close');
    const overflowsBefore = listenOverflows();
    for (let i = 0; i < 6; i++) {
      const s = net.connect({ host: '127.0.0.1', port: stuckPort });
      s.on('error', () => {});
      sockets.push(s);
    }
    await until('storm done', () => storm.messages.some((m) => 'done' in m), 30_000);
    assert.deepEqual(storm.messages.find((m) => 'done' in m)!.failed, 0);
    await until('the listen queue to overflow', () => listenOverflows() > overflowsBefore, 10_000);
    doctor.child.kill('SIGINT');

    assert.equal(await doctor.exited(), 0, doctor.stderr);
    assert.equal(doctor.messages.length, 1, 'one JSON report');
    const report = doctor.messages[0] as Json;
    assert.equal(report.changedNothing, true);
    const findings = report.findings as Json[];

    // TIME_WAIT: on the client side, towards the storm's server; the storm's process sent every first FIN.
    const tw = findings.find((f) => f.id === 'time-wait' && f.data.port === stormPort);
    assert.ok(tw, `a TIME_WAIT finding for port ${stormPort}: ${JSON.stringify(findings.map((f) => f.title))}`);
    assert.equal(tw.data.side, 'client');
    assert.equal(tw.data.daddr, '127.0.0.1');
    assert.ok(tw.data.timeWait >= 0.9 * STORM && tw.data.timeWait <= STORM, `timeWait ${tw.data.timeWait}`);
    assert.ok(tw.data.localFirst >= 0.99 * STORM, `client closed first in ${tw.data.localFirst}`);
    assert.equal(tw.data.remoteFirst, 0);
    assert.equal(tw.data.closers[0].pid, storm.pid, 'the storm process closed first');
    assert.equal(tw.data.closers.length, 1);
    assert.equal(tw.data.twReuseCovers, true, 'loopback, tcp_tw_reuse=2 by default');
    assert.ok(tw.evidence.length >= 3 && tw.action.length > 0);
    assert.ok(!findings.some((f) => f.id === 'time-wait' && f.data.side === 'server' && f.data.port === stormPort),
      'the server did not close first, so no server-side finding for it');

    // CLOSE_WAIT: the pool is the culprit, with its five sockets; nobody else of ours.
    const cw = findings.find((f) => f.id === 'close-wait');
    assert.ok(cw, 'a CLOSE_WAIT finding');
    const culprit = cw.data.culprits.find((c: Json) => c.pid === pool.pid);
    assert.ok(culprit, `pool ${pool.pid} among ${JSON.stringify(cw.data.culprits.map((c: Json) => c.pid))}`);
    assert.equal(culprit.count, 5);
    assert.deepEqual(culprit.groups.map((g: Json) => [g.side, g.daddr, g.dport, g.count]), [['client', '127.0.0.1', leakPort, 5]]);
    for (const other of [storm, server, leakServer]) assert.ok(!cw.data.culprits.some((c: Json) => c.pid === other.pid));
    assert.deepEqual(cw.sysctls, []);
    assert.ok(findings.some((f) => f.id === 'sysctl:net.ipv4.tcp_keepalive_time'));

    // The listen queue: ours, full, limited by its own backlog of 1, not by somaxconn.
    const lo = findings.find((f) => f.id === 'listen-overflows');
    assert.ok(lo, 'a listen-overflow finding');
    const full = lo.data.fullListeners.find((l: Json) => l.sport === stuckPort);
    assert.ok(full, `listener ${stuckPort} seen full: ${JSON.stringify(lo.data.fullListeners)}`);
    assert.deepEqual([full.pid, full.acceptQueueLimit], [listener.pid, 1]);
    assert.ok(full.acceptQueue > full.acceptQueueLimit);
    assert.ok(full.droppedWhileObserved > 0, `its own drops while observed, from the kernel: ${JSON.stringify(full)}`);
    assert.ok(lo.evidence.some((e: string) => e.startsWith(`127.0.0.1:${stuckPort} (pid ${listener.pid} python3): dropped ${full.droppedWhileObserved} while observed`)), lo.evidence.join('\n'));
    assert.match(lo.action, new RegExp(`127\\.0\\.0\\.1:${stuckPort} \\(limit 1\\): the program's own listen\\(\\) backlog is the limit`));
  });

  test('text output: a head naming the namespace, then each finding with its evidence and action', async () => {
    // A CLOSE_WAIT leak of our own, so there is at least one finding to show.
    const leak = await connectPair('127.0.0.1', 'close', 'hold');
    started.push(leak.server, leak.client);
    leak.server.send('close');
    await leak.client.next('peer-ended');
    const doctor = track(new LineProcess(process.execPath, [CLI, 'doctor', '-d', '1']));
    assert.equal(await doctor.exited(), 0, doctor.stderr);
    await exitAll(leak.server, leak.client);
    const text = doctor.messages.map((m) => String(m.text ?? JSON.stringify(m))).join('\n');
    // Wrapped to the width (160 columns in a pipe): continuation lines are indented.
    assert.ok(text.split('\n').every((l) => l.length <= 160), text);
    assert.match(text, /^tcptrace doctor: observed 1\.\d s in network namespace net:\[\d+\], kernel [^]*?Nothing\s+on\s+the\s+host\s+was\s+changed\./);
    assert.match(text, /^Sockets now: [\d,]+/m);
    // Every finding block has evidence lines and an action line.
    const blocks = text.split('\n\n').filter((b) => /^\[(PROBLEM|WARNING|NOTE)\]/.test(b));
    // "pid N (cmdline): 1 in CLOSE_WAIT", where a wrap may fall between any two words.
    const ourLeak = new RegExp(`pid\\s+${leak.client.pid}\\s+\\([^]*?\\):\\s+1\\s+in\\s+CLOSE_WAIT`);
    assert.ok(blocks.some((b) => ourLeak.test(b)), `our leak among the findings:\n${text}`);
    for (const b of blocks) assert.match(b, /^\[[A-Z]+\] [^\n]+(\n {4}[^ -][^\n]*)*(\n {4}- [^\n]+(\n {6}[^\n]+)*)+\n {2}=> [^\n]+(\n {5}[^\n]+)*$/, b);
  });
});
