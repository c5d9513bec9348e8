/**
 * `tcptrace life` and `tcptrace hist` on real loopback connections: bytes,
 * endings, and durations that land in the right log2 bucket.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { CLI, LineProcess, ROOT, connectPair, exitAll, killStragglers, peer, until } from './helpers';

afterEach(killStragglers);

type Json = Record<string, any>;

async function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<LineProcess> {
  const cli = new LineProcess(process.execPath, [CLI, ...args, '-v'], env);
  await until('tcptrace to attach', () => /attached/.test(cli.stderr), 10_000);
  return cli;
}

/** A loopback port nobody listens on (bound, then closed). */
function unusedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function finish(cli: LineProcess): Promise<Json[]> {
  cli.child.kill('SIGINT');
  assert.equal(await cli.exited(), 0, cli.stderr);
  return cli.messages as Json[];
}

/** The one sample of a histogram from `hist --json`: its value (the sum) and the bucket that holds it. */
function onlySample(histograms: Json[], name: string): { value: number; bucket: Json } {
  const h = histograms.find((x) => x.name === name);
  assert.ok(h, `${name} histogram present`);
  assert.equal(h.count, 1, `${name}: one sample`);
  const filled = h.buckets.filter((b: Json) => b.count > 0);
  assert.equal(filled.length, 1, `${name}: one filled bucket, got ${JSON.stringify(filled)}`);
  const bucket = filled[0];
  assert.ok(h.sum >= bucket.low && h.sum <= bucket.high, `${name}: ${h.sum} lands in its bucket ${bucket.low}-${bucket.high}`);
  return { value: h.sum, bucket };
}

describe('tcptrace life', () => {
  test('bytes are the payload written, and each side says how it ended', async () => {
    const pair = await connectPair('127.0.0.1');
    const life = await startCli(['life', '--json', '-P', String(pair.port)]);
    pair.client.send('send 12345');
    await pair.client.next('sent');
    pair.server.send('send 54321');
    await pair.server.next('sent');
    await new Promise((r) => setTimeout(r, 100));
    pair.client.send('close');
    await pair.client.next('closed');
    await until('both ends reported', () => life.messages.length >= 2);
    const lines = await finish(life);
    await exitAll(pair.server, pair.client);

    const client = lines.find((l) => l.sport === pair.clientPort)!;
    const server = lines.find((l) => l.sport === pair.port)!;
    assert.deepEqual([client.txBytes, client.rxBytes, client.ending, client.afterlife, client.pid, client.role],
      [12345, 54321, 'active', 'TIME_WAIT', pair.client.pid, 'client']);
    assert.deepEqual([server.txBytes, server.rxBytes, server.ending, server.afterlife, server.pid, server.role],
      [54321, 12345, 'passive', null, pair.server.pid, 'server']);
    assert.equal(client.lifetimeIsLowerBound, true, 'opened before the trace');
    assert.ok(server.stateMs.CLOSE_WAIT >= 0 && server.stateMs.LAST_ACK >= 0);
  });

  test('refused and reset connections say so', async () => {
    const pair = await connectPair('127.0.0.1', 'hold', 'hold');
    const life = await startCli(['life', '--json', '-P', String(pair.port)]);
    pair.client.send('reset');
    pair.server.send('close-listener');
    await pair.server.next('listener-closed');
    const refused = peer('client', '127.0.0.1', pair.port);
    await refused.next('error');
    await until('three connections reported', () => life.messages.length >= 3);
    const lines = await finish(life);
    await exitAll(pair.server, pair.client, refused);

    const endings = lines.map((l) => `${l.role}:${l.ending}:${l.error}`).sort();
    assert.deepEqual(endings, ['client:refused:ECONNREFUSED', 'client:reset:null', 'server:reset:ECONNRESET']);
    const refusedLine = lines.find((l) => l.ending === 'refused')!;
    assert.equal(refusedLine.pid, refused.pid);
    assert.equal(refusedLine.lifetimeIsLowerBound, false);
  });
});

/** Bytes waiting unread in the receive queue of a socket on this local port, as ss shows them. */
function unreadBytes(port: number): number {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return Number(out.trim().split(/\s+/)[0] || 0);
}

/** What tcptrace says it cannot name on this kernel: the RST reason before 6.10 (or taken to lack it). */
const NO_REASON = /(?:lacks|is taken to lack \(TCPTRACE_ASSUME_MISSING\)) the reason argument of the tcp_send_reset tracepoint \(Linux 6\.10\+\)/;

describe('resets: who sent each and why, from the kernel', () => {
  const cases: [string, NodeJS.ProcessEnv][] = [
    ['this kernel', process.env],
    ['the reason probe forced to fail', { ...process.env, TCPTRACE_ASSUME_MISSING: 'sk_rst_reason' }],
  ];
  for (const [name, env] of cases) {
    test(`a close with unread data, an abort by SO_LINGER 0, a connect to a closed port: in life, each side's ending (${name})`, async () => {
      // 1. The server closes with the client's bytes unread: the kernel aborts it.
      const unread = new LineProcess('python3', [path.join(ROOT, 'test', 'fixtures', 'abort-close.py')]);
      const unreadPort = (await unread.next('listening')).port as number;
      // 2. The client aborts with SO_LINGER 0 (the fixture's reset).
      const lingerPair = await connectPair('127.0.0.1', 'hold', 'hold');
      // 3. Nobody listens on the port the client connects to.
      const closedPort = await unusedPort();
      const life = await startCli(['life', '--json', '-P', [unreadPort, lingerPair.port, closedPort].join(',')], env);

      const writer = peer('client', '127.0.0.1', unreadPort, 'hold');
      await writer.next('connected');
      await unread.next('accepted');
      writer.send('send 1000');
      await writer.next('sent');
      await until('the bytes in the server\'s receive queue', () => unreadBytes(unreadPort) === 1000);
      unread.send('close');
      await unread.next('closed');
      lingerPair.client.send('reset');
      const refused = peer('client', '127.0.0.1', closedPort);
      await refused.next('error');
      await until('five ends reported', () => life.messages.length >= 5, 10_000);
      const lines = await finish(life);
      await exitAll(lingerPair.server, lingerPair.client, writer, refused);
      await unread.exited();

      // The reason where tcptrace says this kernel gives it (6.10+), none where it says it cannot.
      const reasonless = NO_REASON.test(life.stderr);
      if (env.TCPTRACE_ASSUME_MISSING) assert.ok(reasonless, `said once on stderr: ${life.stderr}`);
      assert.ok((life.stderr.match(new RegExp(NO_REASON, 'g')) ?? []).length <= 1, 'said at most once');
      const reason = reasonless ? /^$/ : /^TCP_/;
      const reasonOf = (l: Json | undefined) => l?.resetReason ?? '';

      const end = (port: number, local: boolean) => lines.find((l) => (local ? l.sport === port : l.dport === port) && l.ending !== undefined);
      const ending = (l: Json | undefined) => l && [l.ending, l.reset];
      assert.match(reasonOf(end(unreadPort, true)), reason, 'the abort\'s reason, as the kernel names it');
      assert.deepEqual(ending(end(unreadPort, true)), ['reset', 'sent'], 'the server that closed with unread data sent the RST');
      assert.deepEqual([...ending(end(unreadPort, false))!, end(unreadPort, false)!.resetReason], ['reset', 'received', null], 'its client received it');
      const lingerClient = lines.find((l) => l.sport === lingerPair.clientPort)!;
      assert.deepEqual(ending(lingerClient), ['reset', 'sent']);
      assert.match(reasonOf(lingerClient), reason);
      assert.deepEqual(ending(lines.find((l) => l.sport === lingerPair.port)), ['reset', 'received']);
      assert.deepEqual(ending(end(closedPort, false)), ['refused', 'received'], 'a refused connect is a RST received');
      assert.ok(lines.every((l) => l.afterlife === null), 'no timewait socket after any of them');
    });
  }
});

describe('tcptrace hist', () => {
  test('a connection left 300 ms in the accept queue lands in the 262144-524287 us bucket', async () => {
    const server = new LineProcess('python3', [path.join(ROOT, 'test', 'fixtures', 'slow-accept.py')]);
    await until('python server', () => server.messages.length > 0);
    const port = server.messages[0] as unknown as number;
    const hist = await startCli(['hist', '--json', '-P', String(port)]);
    const client = peer('client', '127.0.0.1', port, 'close');
    await client.next('connected');
    const askedMs = Date.now();
    server.child.stdin!.write('accept 300\n');
    await client.next('closed');
    const waitedAtMostMs = Date.now() - askedMs;
    const [report] = await finish(hist);
    server.child.stdin!.write('exit\n');
    await exitAll(client);
    await server.exited();

    // At least the server's 300 ms sleep (queued before it was asked), at most until the client saw the close.
    const { value } = onlySample(report.histograms, 'accept');
    assert.ok(value >= 300_000 && value <= (waitedAtMostMs + 50) * 1000, `accept-queue wait ${value} us, the workload says 300-${waitedAtMostMs} ms`);
    assert.equal(report.unit, 'us');
  });

  test('a program that waits 180 ms after the peer\'s FIN shows it in CLOSE_WAIT, split by pid', async () => {
    const pair = await connectPair('127.0.0.1', 'close', 'hold');
    const hist = await startCli(['hist', '--json', '--by', 'pid', '-u', 'ms', '-P', String(pair.port)]);
    const closeAskedMs = Date.now();
    pair.server.send('close');
    await pair.client.next('peer-ended');
    await new Promise((r) => setTimeout(r, 180));
    pair.client.send('close');
    await pair.client.next('closed');
    const closedSeenMs = Date.now();
    const [report] = await finish(hist);
    await exitAll(pair.server, pair.client);

    const closeWait = report.histograms.filter((h: Json) => h.name === 'closeWait');
    assert.deepEqual(closeWait.map((h: Json) => h.key), [`pid ${pair.client.pid} node`]);
    // CLOSE_WAIT began after the server was asked to close and ended after our 180 ms wait,
    // before the client said "closed": the kernel's time lies within the workload's own.
    const { value } = onlySample(closeWait, 'closeWait');
    assert.ok(value >= 179 && value <= closedSeenMs - closeAskedMs + 5,
      `CLOSE_WAIT for ${value} ms; the workload's clock says 180-${closedSeenMs - closeAskedMs} ms`);
    assert.equal(report.unit, 'ms');
  });

  test('a program still in CLOSE_WAIT at the end is said beside the histogram, in the kernel\'s counts and from events alike', async () => {
    const pair = await connectPair('127.0.0.1', 'close', 'hold');
    // Without --by the kernel counts (no events); with it, the tracker follows events: both say the same.
    const kernel = await startCli(['hist', '--json', '-P', String(pair.port)]);
    const events = await startCli(['hist', '--json', '--by', 'pid', '-P', String(pair.port)]);
    pair.server.send('close');
    await pair.client.next('peer-ended');
    const heldFromMs = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    const reports = [(await finish(kernel))[0], (await finish(events))[0]];
    const heldAtMostMs = Date.now() - heldFromMs + 100;
    await exitAll(pair.server, pair.client);

    for (const report of reports) {
      assert.ok(!report.histograms.some((h: Json) => h.name === 'closeWait' && h.count > 0), 'nothing finished CLOSE_WAIT');
      const cw = report.stillInState.find((s: Json) => s.name === 'closeWait');
      assert.deepEqual([cw.state, cw.count, cw.oldestIsLowerBound], ['CLOSE_WAIT', 1, false]);
      assert.ok(cw.oldestMs >= 490 && cw.oldestMs <= heldAtMostMs, `oldest ${cw.oldestMs} ms in CLOSE_WAIT; the workload says 500-${heldAtMostMs}`);
      const fw2 = report.stillInState.find((s: Json) => s.name === 'finWait2');
      assert.equal(fw2.count, 1, 'the server side waits in FIN_WAIT2 for the client\'s FIN');
    }
  });
});
