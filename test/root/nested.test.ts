/**
 * Transitions the kernel does not run on_set_state for because it was already
 * running on that CPU (a softirq interrupting it): on_set_state_nested must
 * handle every one of them. They come only under load and not on every run,
 * so the test first drives loopback storms until the kernel has skipped
 * on_set_state at least once (its precondition), then asserts on its own
 * ports that nothing was lost and every transition arrived.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { FIXTURES, killStragglers, LineProcess, Recorder, transitionsOf, until } from './helpers';

afterEach(killStragglers);

/** Connections per storm, and storms at most (one port each: the kernel filter takes 8). */
const CONNECTIONS = 5000;
const MAX_STORMS = 8;

/** storm.js's sockets (its server closes first; its listener predates the trace), counted by shape. */
const STORM_SHAPES = {
  'CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE': CONNECTIONS,
  'LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE': CONNECTIONS,
  'LISTEN>CLOSE': 1,
};

describe('transitions nested in the tracer (a softirq interrupting on_set_state)', () => {
  const storms: LineProcess[] = [];
  after(() => { for (const s of storms) s.child.kill('SIGKILL'); });

  test('storms until the kernel skips on_set_state: every skip is caught, nothing lost, each storm\'s transitions exactly once', async () => {
    // Every storm's server listens first, so the kernel filter can name all their ports.
    for (let i = 0; i < MAX_STORMS; i++) {
      storms.push(new LineProcess(process.execPath, [path.join(FIXTURES, 'storm.js'), '127.0.0.1', String(CONNECTIONS), '50']));
    }
    await until('every storm server', () => storms.every((s) => s.messages.length > 0), 10_000);
    const ports = storms.map((s) => s.messages[0].port as number);
    const recorder = new Recorder({ ports });
    const ran: number[] = [];
    let skipped = 0;
    try {
      for (let i = 0; i < MAX_STORMS && skipped === 0; i++) {
        storms[i].send('go');
        assert.equal(await storms[i].exited(), 0, storms[i].stderr);
        assert.deepEqual([storms[i].messages[1].done, storms[i].messages[1].failed], [CONNECTIONS, 0], `storm ${i} completed`);
        ran.push(ports[i]);
        // The kernel's own count of on_set_state runs it skipped (recursion_misses): caught or lost.
        const c = recorder.session.counters();
        skipped = c.nestedCaught + c.lostNested;
      }
      const expected = ran.length * (10 * CONNECTIONS + 1);
      const ours = () => recorder.events.filter((e) => ran.includes(e.sport) || ran.includes(e.dport));
      await until('every transition of the storms that ran', () => ours().length >= expected, 30_000).catch(() => {});
    } finally {
      await recorder.stop(); // every event read before the stop is delivered
    }
    const counters = recorder.session.counters();
    assert.ok(skipped > 0, `precondition: the kernel skipped on_set_state at least once in ${ran.length} storms of ${CONNECTIONS} connections`);

    assert.equal(counters.lostRingBufferFull, 0, 'the ring buffer kept up');
    assert.equal(counters.lostNested, 0, `every skipped run was handled by on_set_state_nested (${counters.nestedCaught} caught)`);
    for (const port of ran) {
      const events = recorder.events.filter((e) => e.sport === port || e.dport === port);
      const perSocket = new Map<number, string[]>();
      for (const e of events) perSocket.set(e.sockId, [...(perSocket.get(e.sockId) ?? []), ...transitionsOf([e])]);
      const shapes: Record<string, number> = {};
      for (const seq of perSocket.values()) shapes[seq.join(' ')] = (shapes[seq.join(' ')] ?? 0) + 1;
      assert.deepEqual(shapes, STORM_SHAPES, `port ${port}: every socket, every transition`);
      assert.equal(events.length, 10 * CONNECTIONS + 1, `port ${port}: each transition once`);
      // A skip on_set_state_nested missed would only show up as inferred from the next
      // transition. The kernel also, very rarely, runs no program at all for one
      // (counted nowhere; see live-cli.test): a handful per 100,000 at most.
      assert.ok(events.filter((e) => e.inferred).length <= 3, `port ${port}: inferred transitions stay exceptional`);
    }
  });
});
