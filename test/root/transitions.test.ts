/**
 * Real BPF, real loopback connections between two separate processes: each
 * side's exact transition sequence, addresses, ports and owning PID.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { TransitionEvent } from '../../src/kernel/decoder';
import { Pair, Recorder, connectPair, exitAll, killStragglers, peer, socketStartingWith, transitionsOf } from './helpers';

afterEach(killStragglers);

const ACTIVE_CLOSE = ['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>FIN_WAIT2', 'FIN_WAIT2>CLOSE'];
const PASSIVE_CLOSE_CLIENT = ['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE'];
const CHILD_PASSIVE_CLOSE = ['LISTEN>SYN_RECV', 'SYN_RECV>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE'];
const CHILD_ACTIVE_CLOSE = ['LISTEN>SYN_RECV', 'SYN_RECV>ESTABLISHED', 'ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>FIN_WAIT2', 'FIN_WAIT2>CLOSE'];

async function finish(pair: Pair): Promise<void> {
  pair.server.send('close-listener');
  await pair.server.next('listener-closed');
  await exitAll(pair.server, pair.client);
}

function assertOwner(events: TransitionEvent[], pid: number, who: string): void {
  for (const e of events) {
    assert.equal(e.pid, pid, `${who}: ${transitionsOf([e])[0]} attributed to ${e.pid} (${e.comm}, ${e.ownerSource}), expected ${pid}`);
    assert.equal(e.comm, 'node');
  }
}

function assertClientEndpoints(events: TransitionEvent[], host: string, pair: Pair): void {
  for (const e of events) {
    assert.equal(e.saddr, host);
    assert.equal(e.daddr, host);
    assert.equal(e.dport, pair.port);
    // The kernel picks the local port after CLOSE->SYN_SENT.
    assert.equal(e.sport, transitionsOf([e])[0] === 'CLOSE>SYN_SENT' ? 0 : pair.clientPort);
  }
}

function assertChildEndpoints(events: TransitionEvent[], host: string, pair: Pair): void {
  for (const e of events) {
    assert.deepEqual([e.saddr, e.sport, e.daddr, e.dport], [host, pair.port, host, pair.clientPort]);
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

for (const [family, host] of [['IPv4', '127.0.0.1'], ['IPv6', '::1']] as const) {
  describe(`${family} transitions and owners`, () => {
    let recorder: Recorder;
    before(() => { recorder = new Recorder(); });
    after(() => recorder.stop());

    test('client closes first: active close on the client, passive on the server', async () => {
      const since = recorder.mark();
      const pair = await connectPair(host, 'close', 'close');
      pair.client.send('close');
      await recorder.waitFor('both sides closed', (evs) =>
        evs.filter((e) => (e.sport === pair.port || e.dport === pair.port) && transitionsOf([e])[0].endsWith('>CLOSE')).length >= 2, 5000, since);
      await finish(pair);
      await recorder.waitFor('listener closed', (evs) => evs.some((e) => e.sport === pair.port && transitionsOf([e])[0] === 'LISTEN>CLOSE'), 5000, since);

      const events = recorder.onPort(pair.port, since);
      const client = socketStartingWith(events, 'CLOSE>SYN_SENT', (e) => e.pid === pair.client.pid);
      const child = socketStartingWith(events, 'LISTEN>SYN_RECV');
      const listener = socketStartingWith(events, 'CLOSE>LISTEN');
      assert.deepEqual(transitionsOf(client), ACTIVE_CLOSE);
      assert.deepEqual(transitionsOf(child), CHILD_PASSIVE_CLOSE);
      assert.deepEqual(transitionsOf(listener), ['CLOSE>LISTEN', 'LISTEN>CLOSE']);
      assertOwner(client, pair.client.pid, 'client');
      assertOwner([...child, ...listener], pair.server.pid, 'server');
      assertClientEndpoints(client, host, pair);
      assertChildEndpoints(child, host, pair);
      assert.equal(child[0].ownerSource, 'listener', 'before accept() the listener names the owner');
      assert.equal(child[2].ownerSource, 'cached', 'the FIN arrives in softirq: owner from accept()');
    });

    test('server closes first: the client passes through CLOSE_WAIT, owned by the client', async () => {
      const since = recorder.mark();
      const pair = await connectPair(host, 'close', 'close');
      pair.server.send('close');
      await recorder.waitFor('both sides closed', (evs) =>
        evs.filter((e) => (e.sport === pair.port || e.dport === pair.port) && transitionsOf([e])[0].endsWith('>CLOSE')).length >= 2, 5000, since);
      await finish(pair);

      const events = recorder.onPort(pair.port, since);
      const client = socketStartingWith(events, 'CLOSE>SYN_SENT', (e) => e.pid === pair.client.pid);
      const child = socketStartingWith(events, 'LISTEN>SYN_RECV');
      assert.deepEqual(transitionsOf(client), PASSIVE_CLOSE_CLIENT);
      assert.deepEqual(transitionsOf(child), CHILD_ACTIVE_CLOSE);
      assertOwner(client, pair.client.pid, 'client');
      assertOwner(child, pair.server.pid, 'server');
      assertClientEndpoints(client, host, pair);
      assertChildEndpoints(child, host, pair);
      // On loopback the server's FIN is processed while the server runs:
      // the interrupted task is the server, the owner is still the client.
      assert.equal(client[2].ownerSource, 'cached');
      assert.equal(client[3].ownerSource, 'syscall');
      for (const e of [...client.slice(1), ...child.slice(1)]) assert.ok(e.prevStateNs !== null && e.prevStateNs > 0);
    });

    test('connection refused: SYN_SENT straight to CLOSE', async () => {
      const since = recorder.mark();
      const port = await freePort(host);
      const client = peer('client', host, port);
      assert.equal((await client.next('error')).code, 'ECONNREFUSED');
      client.send('exit');
      await client.exited();
      await recorder.waitFor('refused connection closed', (evs) => evs.some((e) => e.dport === port && e.newstate === 7), 5000, since);

      const sockets = socketStartingWith(recorder.onPort(port, since), 'CLOSE>SYN_SENT', (e) => e.pid === client.pid);
      assert.deepEqual(transitionsOf(sockets), ['CLOSE>SYN_SENT', 'SYN_SENT>CLOSE']);
      assertOwner(sockets, client.pid, 'client');
    });

    test('reset: the client aborts, both sides go straight to CLOSE', async () => {
      const since = recorder.mark();
      const pair = await connectPair(host, 'hold', 'hold');
      pair.client.send('reset');
      await recorder.waitFor('both sides reset', (evs) =>
        evs.filter((e) => (e.sport === pair.port || e.dport === pair.port) && transitionsOf([e])[0] === 'ESTABLISHED>CLOSE').length >= 2, 5000, since);
      await finish(pair);

      const events = recorder.onPort(pair.port, since);
      const client = socketStartingWith(events, 'CLOSE>SYN_SENT', (e) => e.pid === pair.client.pid);
      const child = socketStartingWith(events, 'LISTEN>SYN_RECV');
      assert.deepEqual(transitionsOf(client), ['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>CLOSE']);
      assert.deepEqual(transitionsOf(child), ['LISTEN>SYN_RECV', 'SYN_RECV>ESTABLISHED', 'ESTABLISHED>CLOSE']);
      assertOwner(client, pair.client.pid, 'client');
      // The RST is processed in the client's context on loopback.
      assertOwner(child, pair.server.pid, 'server');
      assertChildEndpoints(child, host, pair);
    });
  });
}
