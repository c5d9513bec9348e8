/**
 * hist's duration histograms count only what finished; the sockets still
 * waiting at the end are said beside them ("10 still in CLOSE_WAIT at the
 * end, oldest 4.0 s"), in text and JSON, never left out without a word.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderLatencySet } from '../../src/format/latency';
import { SnapshotSocket, TimedSnapshot } from '../../src/kernel/decoder';
import { TCP } from '../../src/kernel/states';
import { LatencySet } from '../../src/model/latency';
import { Since, stillInState } from '../../src/model/still-in-state';

const SEC = 1e9;
const START = 100 * SEC;
const END = START + 10 * SEC;

function sock(sockId: number, state: number, over: Partial<SnapshotSocket> = {}): SnapshotSocket {
  return {
    skaddr: `s${sockId}`, sockId, family: 4, saddr: '127.0.0.1', sport: 8080, daddr: '127.0.0.1', dport: 40_000 + sockId,
    netns: 1, uid: 0, inode: sockId, state, ...over,
  };
}

const snapshot = (tsNs: number, sockets: SnapshotSocket[]): TimedSnapshot => ({ tsNs, sockets, files: [] });

/** 10 CLOSE_WAIT sockets, the oldest entered 4 s before the end; two FIN_WAIT2, one from before the trace; a full accept queue. */
function scenario() {
  const closeWait = Array.from({ length: 10 }, (_, i) => sock(10 + i, TCP.CLOSE_WAIT, { closeWait: { sinceNs: END - (4 - i * 0.1) * SEC, idleBeforeFinNs: null, openedBy: null } }));
  const start = snapshot(START, [sock(1, TCP.LISTEN, { acceptQueue: 0, acceptQueueLimit: 8 }), sock(30, TCP.FIN_WAIT2)]);
  const end = snapshot(END, [
    sock(1, TCP.LISTEN, { acceptQueue: 3, acceptQueueLimit: 8 }), ...closeWait, sock(30, TCP.FIN_WAIT2), sock(31, TCP.FIN_WAIT2),
    sock(40, TCP.SYN_SENT), sock(50, TCP.ESTABLISHED), sock(60, TCP.TIME_WAIT, { sockId: 0 }),
  ]);
  return { start, end };
}

/** What the kernel side keeps: when each socket entered CLOSE_WAIT. */
const kernelKept = (s: SnapshotSocket, kind: string): Since | null =>
  (kind === 'closeWait' && s.closeWait?.sinceNs != null ? { ns: s.closeWait.sinceNs, lowerBound: false } : null);

test('per measure, the sockets still waiting at the end, and how long the oldest has', () => {
  const { start, end } = scenario();
  const still = stillInState(start, end, kernelKept);
  assert.deepEqual(still.map((s) => [s.name, s.state, s.count, s.oldestMs, s.oldestIsLowerBound]), [
    ['connect', 'SYN_SENT', 1, null, false],
    ['accept', 'an accept queue', 3, null, false],
    // Every connection not yet closed (not the listener, not TIME_WAIT); the one there at the start: at least 10 s.
    ['lifetime', 'open', 14, 10_000, true],
    ['closeWait', 'CLOSE_WAIT', 10, 4_000, false],
    // 30 was in FIN_WAIT2 when tracing began: at least the whole trace.
    ['finWait2', 'FIN_WAIT2', 2, 10_000, true],
  ]);
});

test('hist text says what is still in a state under its histogram, also where it has no samples', () => {
  const { start, end } = scenario();
  const lines = renderLatencySet(new LatencySet('us'), stillInState(start, end, kernelKept));
  const at = lines.indexOf("time in CLOSE_WAIT: the peer's FIN -> the program closes");
  assert.deepEqual(lines.slice(at, at + 3), [
    "time in CLOSE_WAIT: the peer's FIN -> the program closes",
    '     (no samples)',
    '     10 still in CLOSE_WAIT at the end, oldest 4.0 s (not counted above)',
  ]);
  assert.ok(lines.includes('     3 still in an accept queue at the end (not counted above)'), lines.join('\n'));
  assert.ok(lines.includes('     14 still open at the end, oldest >=10.0 s (not counted above)'), lines.join('\n'));
  assert.ok(lines.includes('     2 still in FIN_WAIT2 at the end, oldest >=10.0 s (not counted above)'), lines.join('\n'));
  // None still waiting: nothing said.
  const none = renderLatencySet(new LatencySet('us'), stillInState(start, snapshot(END, []), kernelKept));
  assert.ok(!none.some((l) => l.includes('still')), none.join('\n'));
});
