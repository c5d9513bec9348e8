import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcptraceError } from '../../src/errors';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkNotInput, parseComms, parseCount, parseOutputPath, parsePids, parsePorts, parseRingBufferSize, parseSeconds, parseSsFilter, parseStates, tracerOptions,
} from '../../src/cli/options';
import { AF_INET, AF_INET6, TCP } from '../../src/kernel/states';

/** Asserts `fn` throws a usage error (exit 2) whose message starts with the flag and contains `fragment`. */
function assertUsageError(fn: () => unknown, flag: string, fragment?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TcptraceError, `expected a TcptraceError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.equal(err.code, 'EUSAGE');
    assert.ok(err.message.startsWith(`${flag}: `), `message "${err.message}" does not name ${flag}`);
    if (fragment !== undefined) assert.ok(err.message.includes(fragment), `message "${err.message}" lacks "${fragment}"`);
    assert.ok(!err.message.includes('\n'), 'message is one line');
    return true;
  });
}

// ---- --port ---------------------------------------------------------------

test('parsePorts accepts lists with spaces and removes duplicates', () => {
  assert.deepEqual(parsePorts('80'), [80]);
  assert.deepEqual(parsePorts(' 80 , 443,80,1 ,65535 '), [80, 443, 1, 65535]);
  assert.deepEqual(parsePorts('1,2,3,4,5,6,7,8'), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(parsePorts('1,2,3,4,5,6,7,8,8,1'), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('parsePorts accumulates over repeated flags', () => {
  assert.deepEqual(parsePorts('8080', [80, 443]), [80, 443, 8080]);
  assert.deepEqual(parsePorts('443,22', [80, 443]), [80, 443, 22]);
});

test('parsePorts rejects bad values naming --port', () => {
  assertUsageError(() => parsePorts('0'), '--port', '0 is out of range (1-65535)');
  assertUsageError(() => parsePorts('65536'), '--port', '65536 is out of range');
  assertUsageError(() => parsePorts('80,70000'), '--port', '70000');
  assertUsageError(() => parsePorts('abc'), '--port', '"abc" is not a whole number');
  assertUsageError(() => parsePorts('-1'), '--port', '"-1"');
  assertUsageError(() => parsePorts('80.5'), '--port', '"80.5"');
  assertUsageError(() => parsePorts(''), '--port', 'empty list');
  assertUsageError(() => parsePorts(' , '), '--port', 'empty list');
});

test('parsePorts allows at most 8 distinct ports, including earlier flags', () => {
  assertUsageError(() => parsePorts('1,2,3,4,5,6,7,8,9'), '--port', 'at most 8 values (got 9)');
  assertUsageError(() => parsePorts('9', [1, 2, 3, 4, 5, 6, 7, 8]), '--port', 'at most 8 values (got 9)');
  assert.deepEqual(parsePorts('8', [1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 3, 4, 5, 6, 7, 8]);
});

// ---- --pid ----------------------------------------------------------------

test('parsePids accepts lists, duplicates removed, accumulating', () => {
  assert.deepEqual(parsePids('1, 1234 ,1'), [1, 1234]);
  assert.deepEqual(parsePids('4194304'), [4194304]);
  assert.deepEqual(parsePids('7', [5]), [5, 7]);
});

test('parsePids rejects bad values naming --pid', () => {
  assertUsageError(() => parsePids('0'), '--pid', '0 is out of range (1-4194304)');
  assertUsageError(() => parsePids('4194305'), '--pid', '4194305 is out of range');
  assertUsageError(() => parsePids('self'), '--pid', '"self" is not a whole number');
  assertUsageError(() => parsePids(''), '--pid', 'empty list');
  assertUsageError(() => parsePids('1,2,3,4,5,6,7,8,9'), '--pid', 'at most 8 values (got 9)');
  assertUsageError(() => parsePids('9', [1, 2, 3, 4, 5, 6, 7, 8]), '--pid', 'at most 8');
});

// ---- --state --------------------------------------------------------------

test('parseStates accepts names in any case, with dashes or underscores', () => {
  assert.deepEqual(parseStates('close-wait'), [TCP.CLOSE_WAIT]);
  assert.deepEqual(parseStates('CLOSE_WAIT, time_wait ,Established'), [TCP.CLOSE_WAIT, TCP.TIME_WAIT, TCP.ESTABLISHED]);
  assert.deepEqual(parseStates('syn-sent,Fin-Wait1,new_syn_recv'), [TCP.SYN_SENT, TCP.FIN_WAIT1, TCP.NEW_SYN_RECV]);
});

test('parseStates takes ss\'s spellings and its state groups', () => {
  assert.deepEqual(parseStates('fin-wait-1,fin-wait-2,listening,closed,syn-recv'), [TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.LISTEN, TCP.CLOSE, TCP.SYN_RECV]);
  assert.deepEqual(parseStates('bucket'), [TCP.SYN_RECV, TCP.TIME_WAIT]);
  assert.deepEqual(parseStates('connected').sort((a, b) => a - b),
    [TCP.ESTABLISHED, TCP.SYN_SENT, TCP.SYN_RECV, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.TIME_WAIT, TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSING]);
  assert.ok(!parseStates('synchronized').includes(TCP.SYN_SENT));
  assert.ok(!parseStates('big').includes(TCP.TIME_WAIT) && parseStates('big').includes(TCP.LISTEN));
  assert.equal(parseStates('all').length, 11);
});

test('parseSsFilter reads ss\'s filter words: state, sport and dport, with its brackets, operators and or', () => {
  assert.deepEqual(parseSsFilter(['state', 'close-wait', '(', 'sport', '=', ':8080', 'or', 'sport', '==', ':443', ')', 'dport', 'eq', '5432']),
    { states: [TCP.CLOSE_WAIT], sports: [8080, 443], dports: [5432] });
  // As one shell word, the way ss's own examples quote it.
  assert.deepEqual(parseSsFilter(['state time-wait', '( dport = :80 )']), { states: [TCP.TIME_WAIT], dports: [80] });
  assert.deepEqual(parseSsFilter([]), {});
  assertUsageError(() => parseSsFilter(['src', '10.0.0.1']), 'snapshot filter', '"src" is not understood');
  assertUsageError(() => parseSsFilter(['state']), 'snapshot filter', '"state" needs a value');
  assertUsageError(() => parseSsFilter(['state', 'nope']), 'state', 'unknown state "nope"');
  assertUsageError(() => parseSsFilter(['sport', '=', ':99999']), 'sport', 'out of range');
});

test('parseComms: process names as the kernel keeps them, at most 15 characters', () => {
  assert.deepEqual(parseComms('java,node', ['java']), ['java', 'node']);
  assertUsageError(() => parseComms('a-name-longer-than-15'), '--comm', 'longer than a process name can be');
});

test('parseStates removes duplicates and accumulates', () => {
  assert.deepEqual(parseStates('listen,LISTEN,Listen'), [TCP.LISTEN]);
  assert.deepEqual(parseStates('time-wait', [TCP.CLOSE_WAIT]), [TCP.CLOSE_WAIT, TCP.TIME_WAIT]);
  assert.deepEqual(parseStates('close_wait', [TCP.CLOSE_WAIT]), [TCP.CLOSE_WAIT]);
});

test('parseStates rejects unknown names naming --state and listing the valid ones', () => {
  assertUsageError(() => parseStates('FOO'), '--state', 'unknown state "FOO"');
  assertUsageError(() => parseStates('established,closewait'), '--state', 'unknown state "closewait"');
  assertUsageError(() => parseStates('STATE_1'), '--state', 'unknown state');
  assertUsageError(() => parseStates(''), '--state', 'empty list');
  assertUsageError(() => parseStates('FOO'), '--state', 'ESTABLISHED, SYN_SENT');
});

// ---- durations ----------------------------------------------------------

test('parseSeconds accepts positive decimals', () => {
  assert.equal(parseSeconds('--duration', '5'), 5);
  assert.equal(parseSeconds('--duration', '0.5'), 0.5);
  assert.equal(parseSeconds('--duration', ' 2 '), 2);
  assert.equal(parseSeconds('--duration', '31536000'), 31_536_000);
});

test('parseSeconds rejects zero, negatives, exponents and junk, naming the flag', () => {
  assertUsageError(() => parseSeconds('--duration', '0'), '--duration', 'out of range');
  assertUsageError(() => parseSeconds('--duration', '0.0'), '--duration', 'out of range');
  assertUsageError(() => parseSeconds('--duration', '31536001'), '--duration', 'out of range');
  assertUsageError(() => parseSeconds('--duration', '-1'), '--duration', '"-1" is not a number of seconds');
  assertUsageError(() => parseSeconds('--duration', '1e3'), '--duration', '"1e3"');
  assertUsageError(() => parseSeconds('--duration', 'abc'), '--duration', '"abc"');
  assertUsageError(() => parseSeconds('--duration', ''), '--duration', 'is not a number');
  assertUsageError(() => parseSeconds('--interval', 'Infinity'), '--interval', '"Infinity"');
});

// ---- --ring-buffer --------------------------------------------------------

test('parseCount takes whole numbers from 1 to its maximum, naming the flag', () => {
  assert.equal(parseCount('--top', '10'), 10);
  assert.equal(parseCount('--top', ' 3 '), 3);
  assertUsageError(() => parseCount('--top', '0'), '--top', 'out of range');
  assertUsageError(() => parseCount('--top', '0.2'), '--top', 'not a whole number');
  assertUsageError(() => parseCount('--top', 'abc'), '--top', 'not a whole number');
  assertUsageError(() => parseCount('--top', '1001'), '--top', 'out of range');
});

test('parseRingBufferSize accepts powers of two from 64K to 1G, with units', () => {
  const cases: Array<[string, number]> = [
    ['65536', 65536], ['64K', 65536], ['64k', 65536], ['64KB', 65536], ['8M', 8 << 20],
    ['16MiB', 16 << 20], ['16 m', 16 << 20], ['1G', 1 << 30], ['1GiB', 1 << 30], [' 256K ', 256 << 10],
  ];
  for (const [text, bytes] of cases) assert.equal(parseRingBufferSize(text), bytes, text);
});

test('parseRingBufferSize rejects sizes that are not powers of two or out of range', () => {
  assertUsageError(() => parseRingBufferSize('3M'), '--ring-buffer', '3M must be a power of two from 64K to 1G');
  assertUsageError(() => parseRingBufferSize('32K'), '--ring-buffer', 'power of two from 64K to 1G');
  assertUsageError(() => parseRingBufferSize('2G'), '--ring-buffer', '2G');
  assertUsageError(() => parseRingBufferSize('0'), '--ring-buffer', 'power of two');
  assertUsageError(() => parseRingBufferSize('65535'), '--ring-buffer', 'power of two');
});

test('parseRingBufferSize rejects text that is not a size', () => {
  for (const text of ['abc', '', '8X', '-8M', '8.5M', 'M']) {
    assertUsageError(() => parseRingBufferSize(text), '--ring-buffer', 'is not a size');
  }
});

// ---- tracerOptions ------------------------------------------------------

test('tracerOptions with no flags filters nothing and leaves the ring buffer size out', () => {
  const options = tracerOptions({});
  assert.deepEqual(options, { family: 0, ports: [], pids: [], netns: [], stateMask: 0 });
  assert.ok(!('ringBufferBytes' in options));
});

test('tracerOptions family from -4 and -6', () => {
  assert.equal(tracerOptions({ ipv4: true }).family, AF_INET);
  assert.equal(tracerOptions({ ipv6: true }).family, AF_INET6);
  assert.equal(tracerOptions({ ipv4: true, ipv6: true }).family, 0);
  assert.equal(tracerOptions({ ipv4: false, ipv6: false }).family, 0);
});

test('tracerOptions passes ports, pids and ring buffer size through and builds the state mask', () => {
  assert.deepEqual(
    tracerOptions({ port: [80, 443], pid: [1, 2], state: [TCP.ESTABLISHED, TCP.CLOSE_WAIT, TCP.NEW_SYN_RECV], ringBuffer: 1 << 20 }),
    { family: 0, ports: [80, 443], pids: [1, 2], netns: [], stateMask: (1 << 1) | (1 << 8) | (1 << 12), ringBufferBytes: 1 << 20 },
  );
  assert.equal(tracerOptions({ state: [TCP.TIME_WAIT] }).stateMask, 0b100_0000);
});

// ---- output paths -------------------------------------------------------------

test('parseOutputPath accepts a new file in an existing directory, and an existing file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-options-'));
  try {
    const existing = path.join(dir, 'old.jsonl');
    fs.writeFileSync(existing, 'x');
    assert.equal(parseOutputPath('--output', path.join(dir, 'new.jsonl')), path.join(dir, 'new.jsonl'));
    assert.equal(parseOutputPath('--output', existing), existing);
    assert.equal(parseOutputPath('--record', '/dev/null'), '/dev/null');
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('parseOutputPath refuses, before anything runs, paths that cannot be written', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-options-'));
  try {
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'x');
    assertUsageError(() => parseOutputPath('--output', ''), '--output', 'empty file name');
    assertUsageError(() => parseOutputPath('--output', dir), '--output', `${dir} is a directory`);
    assertUsageError(() => parseOutputPath('--record', path.join(dir, 'no', 'x.jsonl')), '--record', `directory ${path.join(dir, 'no')} does not exist`);
    assertUsageError(() => parseOutputPath('--record', path.join(file, 'x.jsonl')), '--record', `${file} is not a directory`);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test('checkNotInput refuses to write over the trace being read, also through another name', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-options-'));
  try {
    const trace = path.join(dir, 't.jsonl');
    fs.writeFileSync(trace, 'x');
    fs.linkSync(trace, path.join(dir, 'hard-link.jsonl'));
    assertUsageError(() => checkNotInput('--output', trace, trace), '--output', 'is the trace being read');
    assertUsageError(() => checkNotInput('--output', path.join(dir, 'hard-link.jsonl'), path.join(dir, '.', 't.jsonl')), '--output');
    checkNotInput('--output', path.join(dir, 'other.json'), trace);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
