/**
 * The session as the commands use it: sockets that predate the trace, the
 * kernel-side filters, state counts against ss, and the addon's typed errors.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { afterEach, describe, test } from 'node:test';
import { TcptraceError } from '../../src/errors';
import { loadNative } from '../../src/kernel/native';
import { AF_INET6, TCP } from '../../src/kernel/states';
import { CLI, Recorder, connectPair, exitAll, killStragglers, peer, socketStartingWith, transitionsOf, until } from './helpers';

afterEach(killStragglers);

describe('sockets that exist before tracing starts', () => {
  test('the snapshot finds them with their holders, and their transitions carry ids and owners', async () => {
    const pair = await connectPair('127.0.0.1');
    const recorder = new Recorder();
    try {
      const { sockets, files } = recorder.session.snapshot();
      const listener = sockets.find((s) => s.sport === pair.port && s.state === TCP.LISTEN);
      const client = sockets.find((s) => s.sport === pair.clientPort && s.dport === pair.port);
      assert.ok(listener && client, 'listener and client socket in the snapshot');
      assert.equal(client.state, TCP.ESTABLISHED);
      assert.ok(client.sockId > 0 && client.inode > 0);
      const holders = files.filter((f) => f.skaddr === client.skaddr);
      assert.deepEqual(holders.map((h) => [h.pid, h.comm]), [[pair.client.pid, 'node']]);

      // The server's FIN reaches the client in softirq: only the snapshot can
      // name the client as owner of a socket it opened before the trace.
      pair.server.send('close');
      await recorder.waitFor('client passive close', (evs) => evs.some((e) => e.sockId === client.sockId && e.newstate === TCP.CLOSE));
      const events = recorder.events.filter((e) => e.sockId === client.sockId);
      assert.deepEqual(transitionsOf(events), ['ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE']);
      assert.equal(events[0].ownerSource, 'snapshot');
      assert.equal(events[0].prevStateNs, null, 'time in ESTABLISHED began before the trace');
      assert.ok(events.every((e) => e.pid === pair.client.pid && e.sport === pair.clientPort));

      // A new connection to the old listener: its child is owned by the listener's holder.
      const second = peer('client', '127.0.0.1', pair.port);
      await second.next('connected');
      await recorder.waitFor('second child', (evs) => evs.some((e) => e.sport === pair.port && e.newstate === TCP.ESTABLISHED));
      const child = socketStartingWith(recorder.onPort(pair.port), 'LISTEN>SYN_RECV');
      assert.equal(child[0].pid, pair.server.pid);
      await exitAll(pair.server, pair.client, second);
    } finally {
      await recorder.stop();
    }
  });
});

describe('kernel-side filters', () => {
  test('--port, --state and -6 pass only matching transitions', async () => {
    const v4 = await connectPair('127.0.0.1');
    const v6 = await connectPair('::1');
    const recorder = new Recorder({ ports: [v4.port, v6.port], family: AF_INET6, stateMask: 1 << TCP.CLOSE_WAIT });
    try {
      v4.server.send('close');
      v6.server.send('close');
      await Promise.all([v4.client.next('closed'), v6.client.next('closed')]);
      await recorder.waitFor('v6 client close', (evs) => evs.some((e) => e.oldstate === TCP.CLOSE_WAIT));
      await recorder.stop(); // every event read before the stop is delivered: nothing else can arrive after
      assert.deepEqual(
        recorder.events.map((e) => [e.family, transitionsOf([e])[0], e.dport]),
        [[6, 'ESTABLISHED>CLOSE_WAIT', v6.port], [6, 'CLOSE_WAIT>LAST_ACK', v6.port]],
      );
    } finally {
      await recorder.stop();
      await exitAll(v4.server, v4.client, v6.server, v6.client);
    }
  });

  test('--pid passes only the transitions owned by that process', async () => {
    const pair = await connectPair('127.0.0.1');
    const recorder = new Recorder({ pids: [pair.client.pid] });
    try {
      pair.client.send('close');
      await recorder.waitFor('client close', (evs) => evs.some((e) => e.newstate === TCP.CLOSE));
      await recorder.stop(); // every event read before the stop is delivered: nothing else can arrive after
      assert.ok(recorder.events.length >= 3);
      assert.ok(recorder.events.every((e) => e.pid === pair.client.pid), JSON.stringify(recorder.events.map((e) => e.pid)));
    } finally {
      await recorder.stop();
      await exitAll(pair.server, pair.client);
    }
  });
});

describe('state counts', () => {
  test('agree with ss for LISTEN, ESTABLISHED, CLOSE_WAIT, FIN_WAIT2 and TIME_WAIT', async () => {
    // The server closes both connections: the first client holds its socket
    // (CLOSE_WAIT; the server's child waits in FIN_WAIT2), the second closes
    // too, so the server's child for it ends in TIME_WAIT.
    const held = await connectPair('127.0.0.1', 'hold', 'hold');
    const gone = peer('client', '127.0.0.1', held.port, 'close');
    await gone.next('connected');
    await until('second accept', () => held.server.messages.filter((m) => m.event === 'accepted').length === 2);
    held.server.send('close');
    await Promise.all([held.client.next('peer-ended'), gone.next('closed')]);

    const recorder = new Recorder({ ports: [held.port] });
    try {
      const { counts } = recorder.session.ownStateCounts();
      const ssCount = (state: string) => execFileSync('ss', ['-tanH', 'state', state, `( sport = :${held.port} or dport = :${held.port} )`], { encoding: 'utf8' })
        .split('\n').filter(Boolean).length;
      // [tcptrace state, ss state name, our sockets in it on this port]. An
      // earlier connection whose ephemeral port was this number may still be
      // in TIME_WAIT: ss and tcptrace count it alike.
      const expected: [keyof typeof TCP, string, number][] = [
        ['ESTABLISHED', 'established', 0], ['LISTEN', 'listening', 1], ['CLOSE_WAIT', 'close-wait', 1],
        ['FIN_WAIT2', 'fin-wait-2', 1], ['TIME_WAIT', 'time-wait', 1],
      ];
      for (const [state, ssName, ours] of expected) {
        const seen = ssCount(ssName);
        if (state === 'TIME_WAIT') assert.ok(seen >= ours, `ss ${ssName}: ours among ${seen}`);
        else assert.equal(seen, ours, `ss ${ssName}`);
        assert.equal(counts[TCP[state]], seen, `tcptrace ${state} as ss counts it`);
      }
    } finally {
      await recorder.stop();
      await exitAll(held.server, held.client, gone);
    }
  });
});

describe('the terminal view and native errors', () => {
  test('live on a terminal draws the view: states, transitions, processes, peers', () => {
    const r = spawnSync('script', ['-qec', `"${process.execPath}" "${CLI}" live -d 2.5`, '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const heading of ['tcptrace live', 'Sockets by state', 'ESTABLISHED', 'TIME_WAIT', 'TRANSITION', 'PROCESS', 'PEER', 'lost 0']) {
      assert.ok(r.stdout.includes(heading), `view shows ${heading}`);
    }
  });

  test('a load the kernel rejects is a TcptraceError carrying libbpf\'s account', () => {
    const { Tracer } = loadNative();
    assert.throws(() => new Tracer({ ringBufferBytes: 0 }), (err: unknown) => {
      assert.ok(err instanceof TcptraceError);
      assert.equal(err.code, 'ELOAD');
      assert.match(err.message, /kernel rejected the BPF program/);
      assert.match(err.details, /events/, 'details name the failing map');
      return true;
    });
  });
});
