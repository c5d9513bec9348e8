import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseSides } from '../../src/model/close-sides';
import { TransitionEvent } from '../../src/kernel/decoder';
import { TCP } from '../../src/kernel/states';
import { ConnectionTracker } from '../../src/model/tracker';

const { CLOSE, LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK } = TCP;

function ev(sockId: number, oldstate: number, newstate: number, over: Partial<TransitionEvent>): TransitionEvent {
  return {
    kind: 'transition', tsNs: sockId * 1000 + newstate, skaddr: `ffff8881${sockId}`, sockId, family: 4,
    saddr: '10.0.0.1', sport: 0, daddr: '10.0.0.7', dport: 443, netns: 1, oldstate, newstate, prevStateNs: null,
    pid: null, comm: null, cgroupId: null, ownerSource: null, inferred: false, txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false,
    idleNs: null, ...over,
  };
}

/** A client connection from pid 200 to 10.0.0.7:443 that closes first, or whose peer does. */
function clientConnection(sockId: number, sport: number, weCloseFirst: boolean): TransitionEvent[] {
  const mine = { sport, pid: 200, comm: 'curl', ownerSource: 'syscall' as const };
  const established = [ev(sockId, CLOSE, SYN_SENT, { ...mine, sport: 0 }), ev(sockId, SYN_SENT, ESTABLISHED, mine)];
  if (weCloseFirst) {
    return [...established, ev(sockId, ESTABLISHED, FIN_WAIT1, mine), ev(sockId, FIN_WAIT1, FIN_WAIT2, mine),
      ev(sockId, FIN_WAIT2, CLOSE, { ...mine, peerFinReceived: true })];
  }
  return [...established, ev(sockId, ESTABLISHED, CLOSE_WAIT, mine), ev(sockId, CLOSE_WAIT, LAST_ACK, mine), ev(sockId, LAST_ACK, CLOSE, mine)];
}

/** The accepted side on 10.0.0.1:80 of a connection from 10.0.2.2, served by pid 300. */
function serverConnection(sockId: number, peerPort: number, weCloseFirst: boolean): TransitionEvent[] {
  const ends = { saddr: '10.0.0.1', sport: 80, daddr: '10.0.2.2', dport: peerPort, pid: 300, comm: 'nginx', ownerSource: 'cached' as const };
  const opened = [ev(sockId, LISTEN, SYN_RECV, ends), ev(sockId, SYN_RECV, ESTABLISHED, ends)];
  return weCloseFirst
    ? [...opened, ev(sockId, ESTABLISHED, FIN_WAIT1, ends), ev(sockId, FIN_WAIT1, FIN_WAIT2, ends), ev(sockId, FIN_WAIT2, CLOSE, ends)]
    : [...opened, ev(sockId, ESTABLISHED, CLOSE, { ...ends, error: 104 })];
}

test('per service: connections opened, and who sent the first FIN, with the local process that did', () => {
  const sides = new CloseSides();
  const tracker = new ConnectionTracker({ onFinished: (c) => sides.finished(c) });
  const events = [
    ...clientConnection(1, 40001, true), ...clientConnection(2, 40002, true), ...clientConnection(3, 40003, false),
    ...serverConnection(4, 51000, true), ...serverConnection(5, 51001, false),
    // Still open at the end: opened, not closed.
    ...clientConnection(6, 40006, true).slice(0, 2),
  ];
  tracker.apply(events);
  sides.apply(events);
  const rows = sides.rows();
  assert.deepEqual(rows.find((r) => r.role === 'client'), {
    role: 'client', saddr: '10.0.0.1', port: 443, daddr: '10.0.0.7', opened: 4, peakPerSecond: 4, closed: 3,
    localFirst: 2, remoteFirst: 1, noFin: 0, closers: [{ pid: 200, comm: 'curl', count: 2 }],
  });
  assert.deepEqual(rows.find((r) => r.role === 'server'), {
    role: 'server', saddr: '10.0.0.1', port: 80, daddr: null, opened: 2, peakPerSecond: 2, closed: 2,
    localFirst: 1, remoteFirst: 0, noFin: 1, closers: [{ pid: 300, comm: 'nginx', count: 1 }],
  });
});

test('the busiest second of connections opened, per service', () => {
  const sides = new CloseSides();
  const at = (sockId: number, seconds: number) => ev(sockId, SYN_SENT, ESTABLISHED, { sport: 40000 + sockId, tsNs: seconds * 1e9 });
  sides.apply([at(1, 10.1), at(2, 11.2), at(3, 11.5), at(4, 11.9), at(5, 12.0), at(6, 14.3)]);
  const [row] = sides.rows();
  assert.deepEqual([row.opened, row.peakPerSecond], [6, 3]);
});
