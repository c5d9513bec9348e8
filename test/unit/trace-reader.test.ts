import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { pipeline } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { TcptraceError } from '../../src/errors';
import { TRACE_MAJOR, TRACE_VERSION, TraceLine } from '../../src/trace/format';
import {
  forEachTraceLine, nestsDeeperThan, readTrace, REQUIRED_FIELDS, ReadTraceOptions, TRACE_FIELDS,
  TRACE_OPTIONAL_FIELDS, TraceLineType, traceLineProblem, TraceReadResult,
} from '../../src/trace/reader';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-reader-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- fixtures ---------------------------------------------------------------

type Line = Record<string, unknown>;

const header = (over: Line = {}): Line => ({
  type: 'header', format: 'tcptrace-trace', version: TRACE_VERSION, host: 'web-1', kernel: '6.18.44',
  startTime: '2026-11-21T06:30:00.123Z', startNs: 8123456789, wallOffsetMs: 1795231876543.21,
  options: { port: [8080], json: true }, ...over,
});
const snapshot = (phase: string, over: Line = {}): Line => ({ type: 'snapshot', phase, tsNs: 8123456800, ...over });
const socket = (phase: string, over: Line = {}): Line => ({
  type: 'socket', phase, skaddr: 'ffff888100001000', sockId: 12, family: 4, saddr: '127.0.0.1', sport: 8080,
  daddr: '0.0.0.0', dport: 0, netns: 4026531833, uid: 0, inode: 12345, state: 10, ...over,
});
const fileLine = (phase: string, over: Line = {}): Line => ({
  type: 'file', phase, skaddr: 'ffff888100001000', sockId: 12, pid: 4242, fd: 7, comm: 'nginx', cgroupId: 5123, ...over,
});
const event = (over: Line = {}): Line => ({
  type: 'event', kind: 'transition', tsNs: 8123999999, skaddr: 'ffff888100002000', sockId: 13, family: 4,
  saddr: '127.0.0.1', sport: 40000, daddr: '127.0.0.1', dport: 8080, netns: 4026531833, oldstate: 1, newstate: 8,
  prevStateNs: 1234567, pid: 4243, comm: 'python3', cgroupId: 5124, ownerSource: 'cached', inferred: false, txBytes: 100,
  rxBytes: 200, error: 0, peerFinReceived: false, idleNs: 1500000000, ...over,
});
const cgroup = (over: Line = {}): Line => ({ type: 'cgroup', id: 5123, path: `/system.slice/docker-${'4f'.repeat(32)}.scope`, ...over });
const lost = (over: Line = {}): Line => ({ type: 'lost', count: 3, total: 3, ...over });
const footer = (over: Line = {}): Line => ({
  type: 'footer', endTime: '2026-11-21T06:30:05.123Z', endNs: 8128456789, events: 4,
  counters: {
    lostEvents: 3, lostRingBufferFull: 3, lostNested: 0, nestedCaught: 2, inferred: 0, untrackedSockets: 0,
  },
  ...over,
});

/** A trace with every line type, both snapshots, and strings that look like JSON structure. */
function validTrace(): Line[] {
  return [
    header(),
    snapshot('start'),
    socket('start'),
    socket('start', { sockId: 0, state: 6, family: 6, saddr: '::1', daddr: '::1', sport: 443, dport: 50000 }),
    cgroup(),
    fileLine('start'),
    fileLine('start', { pid: 4300, fd: 3, comm: 'we[ir]d {"comm\\', cmdline: 'nginx: worker' }),
    cgroup({ id: 5124, path: '/user.slice/we[ir]d {"path\\' }),
    event(),
    event({ kind: 'accept', prevStateNs: null, pid: null, comm: null, ownerSource: null, idleNs: null }),
    lost(),
    event({ comm: 'wörker ☃ [[[{{{', inferred: true, peerFinReceived: true, family: 6, saddr: '::1', daddr: '::1' }),
    event({ oldstate: 8, newstate: 7, ownerSource: 'listener', error: 104, tsNs: 8.5e9 }),
    snapshot('end', { tsNs: 8128456700 }),
    socket('end', { state: 8 }),
    fileLine('end'),
    footer(),
  ];
}

const toJsonl = (lines: Line[]): string => lines.map((l) => `${JSON.stringify(l)}\n`).join('');

/** The `--format json` layout: header on line 1, one element per line, "]}" last. */
function toDocument(lines: Line[], close = true): string {
  const [head, ...rest] = lines;
  const body = rest.map((l, i) => `${JSON.stringify(l)}${i < rest.length - 1 ? ',' : ''}\n`).join('');
  return `{"header":${JSON.stringify(head)},"lines":[\n${body}${close ? ']}\n' : ''}`;
}

let fileCount = 0;
function write(name: string, content: string | Buffer): string {
  const file = path.join(dir, `${fileCount++}-${name}`);
  fs.writeFileSync(file, content);
  return file;
}

async function readAll(file: string, options?: ReadTraceOptions): Promise<{ lines: TraceLine[]; result: TraceReadResult }> {
  const lines: TraceLine[] = [];
  const reader = readTrace(file, options);
  for (;;) {
    const next = await reader.next();
    if (next.done) return { lines, result: next.value };
    lines.push(next.value);
  }
}

/** Reading `file` fails with a TcptraceError whose message is `file` + `suffix` exactly. */
async function rejects(file: string, suffix: string, options?: ReadTraceOptions): Promise<void> {
  await assert.rejects(readAll(file, options), (err: unknown) => {
    assert.ok(err instanceof TcptraceError, `not a TcptraceError: ${String(err)}`);
    assert.equal(err.message, file + suffix);
    assert.equal(err.exitCode, 1);
    return true;
  });
}

// ---- layouts ------------------------------------------------------------------

test('a JSON Lines trace reads back exactly as written, and is not truncated', async () => {
  const lines = validTrace();
  const { lines: read, result } = await readAll(write('t.jsonl', toJsonl(lines)));
  assert.deepEqual(read, lines);
  assert.deepEqual(result, { truncated: false, lines: lines.length });
});

test('gzip is detected by its magic bytes, not by the name', async () => {
  const lines = validTrace();
  const gz = zlib.gzipSync(toJsonl(lines));
  for (const name of ['t.jsonl.gz', 't.bin']) {
    const { lines: read, result } = await readAll(write(name, gz));
    assert.deepEqual(read, lines, name);
    assert.deepEqual(result, { truncated: false, lines: lines.length });
  }
  // And a plain file named .gz is read as plain text.
  assert.deepEqual((await readAll(write('plain.gz', toJsonl(lines)))).lines, lines);
});

test('the --format json document reads back exactly, with or without a newline after "]}"', async () => {
  const lines = validTrace();
  const text = toDocument(lines);
  JSON.parse(text); // the fixture is one valid JSON document
  for (const content of [text, text.slice(0, -1), zlib.gzipSync(text)]) {
    const { lines: read, result } = await readAll(write('t.json', content));
    assert.deepEqual(read, lines);
    assert.deepEqual(result, { truncated: false, lines: lines.length });
  }
  // A document of a header alone is complete JSON, but has no footer.
  const { lines: only, result } = await readAll(write('h.json', toDocument([header()])));
  assert.deepEqual(only, [header()]);
  assert.deepEqual(result, { truncated: true, lines: 1 });
});

test('the document layout: commas and "]}" where the writer puts them, nothing after', async () => {
  const lines = validTrace();
  const text = toDocument(lines);
  const rows = text.split('\n');
  const n = rows.length - 2; // the last element's line (1-based: rows[n - 1])
  const noComma = [...rows];
  noComma[2] = noComma[2].slice(0, -1);
  await rejects(write('d.json', noComma.join('\n')), ':4: the previous line does not end with ","');
  const trailing = [...rows];
  trailing[n - 1] += ',';
  await rejects(write('d.json', trailing.join('\n')), `:${n + 1}: "]}" after a trailing ","`);
  await rejects(write('d.json', `${text}${JSON.stringify(lost())}\n`), `:${n + 2}: data after the end of the JSON document`);
  await rejects(write('d.json', `${text}]}`), `:${n + 2}: data after the end of the JSON document`);
  // An element must be JSON once its one trailing comma is taken off.
  await rejects(write('d.json', `{"header":${JSON.stringify(header())},"lines":[\n{"type":"lost",,\n`), ':2: not JSON');
  // Line 1 must be exactly {"header": ... ,"lines":[
  await rejects(write('d.json', `{"header":${JSON.stringify(header())},"lines": [\n]}\n`), ':1: not a tcptrace trace (no header)');
  await rejects(write('d.json', `{\n"header": {}\n}\n`), ':1: not a tcptrace trace (no header)');
});

// ---- truncation -------------------------------------------------------------------

test('a file without its footer yields every line and says truncated', async () => {
  const lines = validTrace().slice(0, -1);
  for (const content of [toJsonl(lines), toDocument(lines), toDocument(lines, false)]) {
    const { lines: read, result } = await readAll(write('crash.jsonl', content));
    assert.deepEqual(read, lines);
    assert.deepEqual(result, { truncated: true, lines: lines.length });
  }
  // A document cut off before its "]}" is truncated even with its footer.
  const { lines: read, result } = await readAll(write('crash.json', toDocument(validTrace(), false)));
  assert.deepEqual(read, validTrace());
  assert.deepEqual(result, { truncated: true, lines: validTrace().length });
});

test('a partial last line is ignored and the file is truncated, in both layouts', async () => {
  const lines = validTrace();
  for (const cut of [1, 10, JSON.stringify(footer()).length]) {
    const jsonl = toJsonl(lines).slice(0, -cut); // the footer line loses its tail (at least its newline)
    const { lines: read, result } = await readAll(write('partial.jsonl', jsonl));
    assert.deepEqual(read, lines.slice(0, -1), `cut ${cut}`);
    assert.deepEqual(result, { truncated: true, lines: lines.length - 1 });
  }
  const doc = toDocument(lines, false) + ']'; // died while writing "]}"
  const { lines: read, result } = await readAll(write('partial.json', doc));
  assert.deepEqual(read, lines);
  assert.equal(result.truncated, true);
});

test('a gzip stream cut off by a crash reads like a truncated plain file', async () => {
  const lines = [header(), ...Array.from({ length: 2000 }, (_, i) => event({ tsNs: 8.2e9 + i, sockId: i }))];
  const gz = zlib.gzipSync(toJsonl(lines), { level: 1 });
  const { lines: read, result } = await readAll(write('cut.gz', gz.subarray(0, Math.floor(gz.length / 2))));
  assert.equal(result.truncated, true);
  assert.ok(read.length > 1 && read.length < lines.length, `read ${read.length} lines`);
  assert.deepEqual(read, lines.slice(0, read.length));
});

test('bytes after the footer are damage, not a crash: an error even without a newline', async () => {
  const text = toJsonl(validTrace());
  const n = validTrace().length;
  await rejects(write('after.jsonl', `${text}{"type":"lo`), `:${n + 1}: line after the footer`);
  await rejects(write('after.jsonl', `${text}${JSON.stringify(lost())}\n`), `:${n + 1}: line after the footer`);
  await rejects(write('after.jsonl', `${text}\n`), `:${n + 1}: not JSON`);
});

// ---- the file as a whole -------------------------------------------------------

test('a missing file, an empty file, a directory', async () => {
  const missing = path.join(dir, 'nope.jsonl');
  await rejects(missing, ': no such file');
  await rejects(write('empty.jsonl', ''), ': empty file');
  await rejects(write('empty.gz', zlib.gzipSync('')), ': empty file');
  await rejects(dir, ': is a directory');
});

test('a file with no whole line has no header', async () => {
  await rejects(write('one.jsonl', JSON.stringify(header())), ':1: not a tcptrace trace (no header)');
  await rejects(write('bin.dat', Buffer.from([0, 1, 2, 3, 0xff])), ':1: not a tcptrace trace (no header)');
});

test('corrupt gzip data is a TcptraceError naming the file', async () => {
  const gz = zlib.gzipSync(toJsonl(validTrace()));
  const badCrc = Buffer.from(gz);
  badCrc[badCrc.length - 6] ^= 0xff; // the CRC-32 in the trailer
  const badHeader = Buffer.concat([gz.subarray(0, 2), Buffer.from([99]), gz.subarray(3)]); // method 99
  for (const content of [badCrc, badHeader]) {
    const file = write('bad.gz', content);
    await assert.rejects(readAll(file), (err: unknown) => {
      assert.ok(err instanceof TcptraceError);
      assert.match(err.message, /: corrupt gzip data \(.+\)$/);
      assert.ok(err.message.startsWith(`${file}: `));
      return true;
    });
  }
});

test('stopping early closes the file', async () => {
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const file = write('t.jsonl', toJsonl(validTrace()));
  const gz = write('t.gz', zlib.gzipSync(toJsonl(validTrace())));
  const before = fds();
  for (let i = 0; i < 20; i++) {
    for await (const line of readTrace(i % 2 ? file : gz)) {
      if (line.type === 'socket') break;
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50)); // closing is asynchronous
  assert.ok(fds() <= before + 1, `${fds() - before} descriptors left open`);
});

test('forEachTraceLine hands over each line and returns the result', async () => {
  const lines = validTrace().slice(0, -1);
  const seen: TraceLine[] = [];
  const result = await forEachTraceLine(write('t.jsonl', toJsonl(lines)), (line) => { seen.push(line); });
  assert.deepEqual(seen, lines);
  assert.deepEqual(result, { truncated: true, lines: lines.length });
  await assert.rejects(forEachTraceLine(write('t.jsonl', toJsonl(lines)), () => { throw new Error('stop'); }), /stop/);
});

// ---- line-level errors -------------------------------------------------------------

test('a line that is not JSON is reported with its line number', async () => {
  const lines = toJsonl(validTrace()).split('\n');
  lines[4] = lines[4].slice(0, 30);
  await rejects(write('x.jsonl', lines.join('\n')), ':5: not JSON');
  await rejects(write('x.jsonl', `${JSON.stringify(header())}\n\n`), ':2: not JSON');
  await rejects(write('x.jsonl', `${JSON.stringify(header())}\n[1,2]\n`), ':2: not a JSON object');
  await rejects(write('x.jsonl', `${JSON.stringify(header())}\n"event"\n`), ':2: not a JSON object');
  await rejects(write('x.jsonl', 'hello\n'), ':1: not a tcptrace trace (no header)');
});

test('invalid UTF-8 is refused', async () => {
  const bytes = Buffer.from(`${JSON.stringify(header())}\n${JSON.stringify(event({ comm: 'ab' }))}\n`);
  bytes[bytes.indexOf('"ab"') + 1] = 0xc3; // a lead byte without its continuation
  await rejects(write('u.jsonl', bytes), ':2: not valid UTF-8');
});

test('a line over the cap is an error; a line exactly at the cap is not', async () => {
  const cap = 64 * 1024;
  const padded = (bytes: number): string => {
    const base = JSON.stringify(event({ comm: '' }));
    return JSON.stringify(event({ comm: 'x'.repeat(bytes - base.length) }));
  };
  assert.equal(Buffer.byteLength(padded(cap)), cap);
  const ok = [header(), JSON.parse(padded(cap)), event()];
  assert.deepEqual((await readAll(write('cap.jsonl', toJsonl(ok)))).lines, ok);
  const long = `${JSON.stringify(header())}\n${JSON.stringify(event())}\n${padded(cap + 1)}\n`;
  await rejects(write('x.jsonl', long), ':3: line is longer than 65536 bytes');
  await rejects(write('x.jsonl', toJsonl(validTrace())), ':1: line is longer than 100 bytes', { maxLineBytes: 100 });
  // No newline at all, as a hostile file has it: refused, not waited for.
  const endless = Buffer.alloc(20 * 1024 * 1024, 'a');
  await rejects(write('x.jsonl', Buffer.concat([Buffer.from(`${JSON.stringify(header())}\n`), endless])),
    ':2: line is longer than 65536 bytes');
});

test('deep nesting is refused before parsing, without a stack overflow', async (t) => {
  const started = Date.now();
  await rejects(write('deep.jsonl', `${JSON.stringify(header())}\n${'['.repeat(10000)}\n`), ':2: nested deeper than 3 levels');
  await rejects(write('deep.jsonl', `${'{"a":'.repeat(10000)}\n`), ':1: nested deeper than 3 levels');
  await rejects(write('deep.jsonl', `${JSON.stringify(header({ options: { a: { b: [1] } } }))}\n`),
    ':1: nested deeper than 3 levels');
  await rejects(write('deep.jsonl', `${JSON.stringify(header())}\n${JSON.stringify(lost({ x: [[[1]]] }))}\n`),
    ':2: nested deeper than 3 levels');
  t.diagnostic(`refused in ${Date.now() - started} ms`);
  // Brackets inside strings, escaped quotes included, do not count.
  assert.equal(nestsDeeperThan('{"a":"[[[[\\"[[[[","b":[1]}', 3), false);
  assert.equal(nestsDeeperThan('{"a":"\\\\","b":[[[1]]]}', 3), true);
  assert.equal(nestsDeeperThan('[[[]]]', 3), false);
  assert.equal(nestsDeeperThan('[[[[]]]]', 3), true);
});

test('fields of the wrong type, missing, or nested are refused, naming the type and field', async () => {
  const cases: [Line, string][] = [
    [event({ sport: '80' }), 'event: field sport must be a number'],
    [event({ tsNs: 1e999 }), 'event: field tsNs must be a number'],
    [event({ family: 5 }), 'event: field family must be 4 or 6'],
    [event({ oldstate: 0 }), 'event: field oldstate must be a TCP state number (1..13)'],
    [event({ newstate: 14 }), 'event: field newstate must be a TCP state number (1..13)'],
    [event({ newstate: 1.5 }), 'event: field newstate must be a TCP state number (1..13)'],
    [event({ kind: 'close' }), 'event: field kind must be "transition" or "accept"'],
    [event({ ownerSource: 'kernel' }),
      'event: field ownerSource must be one of null, "syscall", "cached", "listener", "snapshot"'],
    [event({ inferred: 0 }), 'event: field inferred must be a boolean'],
    [event({ pid: '1' }), 'event: field pid must be a number or null'],
    [event({ comm: 7 }), 'event: field comm must be a string or null'],
    [event({ txBytes: null }), 'event: field txBytes must be a number'],
    [event({ skaddr: undefined }), 'event: field skaddr is missing'],
    [event({ extra: { a: 1 } }), 'event: field extra must not be an object or array'],
    [event({ extra: [] }), 'event: field extra must not be an object or array'],
    [snapshot('middle'), 'snapshot: field phase must be "start" or "end"'],
    [fileLine('start', { comm: null }), 'file: field comm must be a string'],
    [fileLine('start', { cmdline: 1 }), 'file: field cmdline must be a string'],
    [lost({ total: true }), 'lost: field total must be a number'],
    [cgroup({ id: '5' }), 'cgroup: field id must be a number'],
    [cgroup({ path: null }), 'cgroup: field path must be a string'],
    [cgroup({ path: undefined }), 'cgroup: field path is missing'],
    [{ count: 1 }, 'field type is missing'],
    [{ type: 7 }, 'field type must be a string'],
  ];
  for (const [line, reason] of cases) {
    const text = `${JSON.stringify(header())}\n${JSON.stringify(snapshot('start'))}\n${JSON.stringify(line)}\n`;
    await rejects(write('x.jsonl', text), `:3: ${reason}`);
  }
  const footers: [Line, string][] = [
    [footer({ counters: { lostEvents: 1 } }), 'footer: field counters must be an object of numbers with lostEvents, '
      + 'lostRingBufferFull, lostNested, nestedCaught, inferred, untrackedSockets'],
    [footer({ counters: [] }), 'footer: field counters must be an object of numbers'],
    [footer({ endTime: 5 }), 'footer: field endTime must be a string'],
  ];
  for (const [line, reason] of footers) {
    const f = write('x.jsonl', toJsonl([header(), line]));
    await assert.rejects(readAll(f), (err: Error) => {
      assert.ok(err instanceof TcptraceError);
      assert.ok(err.message.startsWith(`${f}:2: ${reason}`), err.message);
      return true;
    });
  }
  const headers: [Line, string][] = [
    [header({ options: [] }), 'header: field options must be an object'],
    [header({ startNs: '1' }), 'header: field startNs must be a number'],
    [header({ host: undefined }), 'header: field host is missing'],
    [header({ format: 'pcap' }), 'not a tcptrace trace (format is not "tcptrace-trace")'],
  ];
  for (const [line, reason] of headers) await rejects(write('x.jsonl', toJsonl([line])), `:1: ${reason}`);
});

test('an unknown line type is refused, unless the file is a newer minor version', async () => {
  const odd = { type: 'gauge', value: 3 };
  await rejects(write('x.jsonl', toJsonl([header(), odd])), ':2: unknown line type "gauge"');
  const newer = [header({ version: `${TRACE_MAJOR}.9` }), odd, event({ newField: 'kept' }), { type: 'gauge', v: {} }];
  const { lines, result } = await readAll(write('x.jsonl', toJsonl([...newer.slice(0, 3), footer()])));
  assert.deepEqual(lines, [newer[0], newer[2], footer()]);
  assert.deepEqual(result, { truncated: false, lines: 3 });
  // Skipped or not, an unknown type still cannot come after the footer.
  await rejects(write('x.jsonl', toJsonl([newer[0], footer(), odd])), ':3: line after the footer');
});

test('a newer major version is refused naming both versions; malformed versions are refused', async () => {
  const newer = `${TRACE_MAJOR + 1}.0`;
  await rejects(write('v.jsonl', toJsonl([header({ version: newer })])),
    `:1: trace format version ${newer} is newer than this tcptrace reads (${TRACE_VERSION}): upgrade tcptrace`);
  await rejects(write('v.json', toDocument([header({ version: newer, host: 7 })])),
    `:1: trace format version ${newer} is newer than this tcptrace reads (${TRACE_VERSION}): upgrade tcptrace`);
  await rejects(write('v.jsonl', toJsonl([header({ version: '0.9' })])),
    `:1: trace format version 0.9 is older than this tcptrace reads (${TRACE_VERSION})`);
  for (const version of ['1', '1.0.0', 'v1.0', '01.0', '1.01', '1.', '.1', ' 1.0', '1.0 ', '9999999999.0', '']) {
    await rejects(write('v.jsonl', toJsonl([header({ version })])),
      `:1: header: malformed version ${JSON.stringify(version)} (expected MAJOR.MINOR)`);
  }
  await rejects(write('v.jsonl', toJsonl([header({ version: 1 })])), ':1: header: malformed version 1 (expected MAJOR.MINOR)');
  await rejects(write('v.jsonl', toJsonl([header({ version: undefined })])),
    ':1: header: malformed version undefined (expected MAJOR.MINOR)');
});

test('a 1.0 trace, from before cgroup ids, reads with them "not known"', async () => {
  const lines = validTrace().map((line) => {
    const { cgroupId, ...rest } = line;
    return line.type === 'header' ? { ...rest, version: '1.0' } : rest;
  });
  const { lines: read } = await readAll(write('v1.0.jsonl', toJsonl(lines)));
  assert.ok(read.some((l) => l.type === 'event') && read.some((l) => l.type === 'file'));
  for (const line of read) {
    if (line.type === 'event') assert.equal(line.cgroupId, null);
    if (line.type === 'file') assert.equal(line.cgroupId, 0);
  }
});

test('cgroup lines may come anywhere between the header and the footer', async () => {
  const lines = [
    header(), cgroup({ id: 1, path: '/' }), snapshot('start'), cgroup({ id: 2 }), socket('start'), cgroup({ id: 3 }),
    event(), cgroup({ id: 4 }), snapshot('end'), cgroup({ id: 5 }), fileLine('end'), footer(),
  ];
  const { lines: read } = await readAll(write('cgroups.jsonl', toJsonl(lines)));
  assert.deepEqual(read, lines);
  await rejects(write('x.jsonl', toJsonl([header(), footer(), cgroup()])), ':3: line after the footer');
  await rejects(write('x.jsonl', toJsonl([cgroup(), header()])), ':1: not a tcptrace trace (no header)');
});

test('a newer minor version is read', async () => {
  const lines = [header({ version: `${TRACE_MAJOR}.7` }), ...validTrace().slice(1)];
  const { lines: read, result } = await readAll(write('minor.jsonl', toJsonl(lines)));
  assert.deepEqual(read, lines);
  assert.equal(result.truncated, false);
});

test('lines out of order are refused', async () => {
  const t = validTrace();
  const cases: [Line[], string][] = [
    [[event(), header()], ':1: not a tcptrace trace (no header)'],
    [[header(), header()], ':2: a second header'],
    [[header(), event(), header()], ':3: a second header'],
    [[header(), footer(), lost()], ':3: line after the footer'],
    [[header(), footer(), footer()], ':3: line after the footer'],
    [[header(), event(), snapshot('start')], ':3: start snapshot out of order (after the events)'],
    [[header(), socket('start')], ':2: socket line of the start snapshot out of order (after the header)'],
    [[header(), snapshot('start'), event(), fileLine('start')],
      ':4: file line of the start snapshot out of order (after the events)'],
    [[header(), snapshot('start'), snapshot('start')], ':3: start snapshot out of order (after the start snapshot)'],
    [[header(), snapshot('end'), event()], ':3: event out of order (after the end snapshot)'],
    [[header(), snapshot('end'), lost()], ':3: lost out of order (after the end snapshot)'],
    [[header(), snapshot('end'), snapshot('end')], ':3: end snapshot out of order (after the end snapshot)'],
    [[header(), snapshot('end'), snapshot('start')], ':3: start snapshot out of order (after the end snapshot)'],
    [[header(), event(), socket('end')], ':3: socket line of the end snapshot out of order (after the events)'],
    [[...t.slice(0, 3), fileLine('end')], ':4: file line of the end snapshot out of order (after the start snapshot)'],
  ];
  for (const [lines, suffix] of cases) await rejects(write('order.jsonl', toJsonl(lines)), suffix);
  // The snapshots are optional: a header, events, a footer is a whole trace.
  const minimal = [header(), event(), lost(), footer()];
  assert.deepEqual(await readAll(write('min.jsonl', toJsonl(minimal))), {
    lines: minimal, result: { truncated: false, lines: 4 },
  });
});

// ---- hostile input: size -------------------------------------------------------------

/**
 * Reads `file` in a child process and reports the events and the heap's peak
 * growth. A child, because node:test tracks async context through every
 * promise, which makes each await of the generator ~20 times slower than in
 * tcptrace itself; and a child has a clean heap and a real gc() to measure with.
 */
async function readInChild(file: string): Promise<{ events: number; result: TraceReadResult; peak: number }> {
  const script = `
    const { readTrace } = require(${JSON.stringify(require.resolve('../../src/trace/reader'))});
    (async () => {
      gc();
      const base = process.memoryUsage().heapUsed;
      let peak = 0, events = 0;
      const reader = readTrace(${JSON.stringify(file)});
      let next = await reader.next();
      for (; !next.done; next = await reader.next()) {
        if (next.value.type === 'event' && ++events % 250000 === 0) {
          gc(); // what is kept, not garbage not yet collected
          peak = Math.max(peak, process.memoryUsage().heapUsed - base);
        }
      }
      process.stdout.write(JSON.stringify({ events, result: next.value, peak }));
    })().catch((err) => { process.stderr.write(String(err.stack)); process.exit(1); });`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '-e', script], { timeout: 100_000 });
  return JSON.parse(stdout);
}

test('5,000,000 lines, 1.5 GB unzipped, stream through in bounded memory', { timeout: 120_000 }, async (t) => {
  const total = 5_000_000;
  const file = path.join(dir, 'huge.jsonl.gz');
  // Compressed, this is 15 MB on disk: a small file that expands without end
  // is the hostile case for memory anyway.
  const gzip = zlib.createGzip({ level: 1 });
  const done = promisify(pipeline)(gzip, fs.createWriteStream(file));
  const block = `${JSON.stringify(event({ comm: 'c', skaddr: 'f', saddr: '::1', daddr: '::1' }))}\n`.repeat(10_000);
  gzip.write(`${JSON.stringify(header())}\n`);
  for (let written = 0; written < total; written += 10_000) {
    if (!gzip.write(block)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end(`${JSON.stringify(footer({ events: total }))}\n`);
  await done;

  const started = Date.now();
  const { events, result, peak } = await readInChild(file);
  t.diagnostic(`read in ${Date.now() - started} ms; heap grew by ${(peak / 1048576).toFixed(1)} MiB at most`);
  assert.equal(events, total);
  assert.deepEqual(result, { truncated: false, lines: total + 2 });
  assert.ok(peak < 50 * 1024 * 1024, `heap grew by ${(peak / 1048576).toFixed(1)} MiB`);
});

// ---- hostile input: fuzz ---------------------------------------------------------------

/** mulberry32: small, seeded, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Buffer, random: () => number): Buffer {
  const int = (n: number) => Math.floor(random() * n);
  let bytes = input;
  for (let m = 1 + int(3); m > 0; m--) {
    const at = int(bytes.length + 1);
    const lines = bytes.toString('latin1').split('\n');
    const which = int(lines.length);
    switch (int(7)) {
      case 0: { // flip a byte
        bytes = Buffer.from(bytes);
        if (bytes.length) bytes[Math.min(at, bytes.length - 1)] = int(256);
        break;
      }
      case 1: // truncate
        bytes = bytes.subarray(0, at);
        break;
      case 2: // duplicate a line
        lines.splice(which, 0, lines[which]);
        bytes = Buffer.from(lines.join('\n'), 'latin1');
        break;
      case 3: // delete a line
        lines.splice(which, 1);
        bytes = Buffer.from(lines.join('\n'), 'latin1');
        break;
      case 4: { // insert structure
        const bits = ['{', '[', '}', ']', '"', ',', '\n', ':', '\\', '{"a":{', '['.repeat(1 + int(3000))];
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(bits[int(bits.length)]), bytes.subarray(at)]);
        break;
      }
      case 5: { // swap two lines
        const other = int(lines.length);
        [lines[which], lines[other]] = [lines[other], lines[which]];
        bytes = Buffer.from(lines.join('\n'), 'latin1');
        break;
      }
      default: { // change a number or a value's type
        const values = ['0', '-1', '1.5', '14', 'null', 'true', '"x"', '[]', '{}', '1e999', '6'];
        const text = bytes.toString('latin1').replace(/:(-?[0-9.]+|null|true|false|"[^"]*")/g,
          (whole) => (random() < 0.05 ? `:${values[int(values.length)]}` : whole));
        bytes = Buffer.from(text, 'latin1');
      }
    }
  }
  return bytes;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('fuzz: mutated traces read or fail with a TcptraceError naming the file, never hang', { timeout: 120_000 }, async (t) => {
  const seed = 0x7c9e2b;
  const random = prng(seed);
  const bases = [Buffer.from(toJsonl(validTrace())), Buffer.from(toDocument(validTrace()))];
  const file = path.join(dir, 'fuzz.jsonl');
  const outcomes = { read: 0, truncated: 0, failed: 0 };
  for (let i = 0; i < 3000; i++) {
    let bytes = mutate(bases[i % 2], random);
    if (random() < 0.1) bytes = zlib.gzipSync(bytes);
    if (random() < 0.03) bytes = mutate(bytes, random); // damaged gzip, mostly
    fs.writeFileSync(file, bytes);
    const what = `seed ${seed}, case ${i}`;
    try {
      const { lines, result } = await withTimeout(readAll(file), 5000, what);
      assert.equal(lines.length, result.lines, what);
      for (const line of lines) assert.equal(traceLineProblem(line), undefined, what);
      outcomes[result.truncated ? 'truncated' : 'read']++;
    } catch (err) {
      assert.ok(err instanceof TcptraceError, `${what}: ${(err as Error).stack}`);
      assert.ok(err.message.startsWith(`${file}:`), `${what}: ${err.message}`);
      outcomes.failed++;
    }
  }
  t.diagnostic(JSON.stringify(outcomes));
  // The mutations must exercise all three outcomes, or the test proves little.
  assert.ok(outcomes.read > 50 && outcomes.truncated > 50 && outcomes.failed > 500, JSON.stringify(outcomes));
});

// ---- the JSON Schema ----------------------------------------------------------------------

type Schema = Record<string, unknown>;
const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'trace-format.schema.json'), 'utf8')) as Schema;
const branches = schema.oneOf as Schema[];
const branchOf = (type: string): Schema | undefined =>
  branches.find((b) => (b.properties as Record<string, Schema>)?.type?.const === type);
const LINE_TYPES = Object.keys(TRACE_FIELDS) as TraceLineType[];

test('the schema has one oneOf entry per line type, requiring what the reader requires', () => {
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(branches.length, LINE_TYPES.length);
  for (const type of LINE_TYPES) {
    const branch = branchOf(type);
    assert.ok(branch, `no oneOf entry for ${type}`);
    assert.deepEqual(branch.required, REQUIRED_FIELDS[type], type);
    const properties = branch.properties as Record<string, Schema>;
    const rules = { ...TRACE_FIELDS[type], ...TRACE_OPTIONAL_FIELDS[type] } as Record<string, { schema: Schema }>;
    assert.deepEqual(Object.keys(properties).sort(), ['type', ...Object.keys(rules)].sort(), type);
    for (const [name, rule] of Object.entries(rules)) assert.deepEqual(properties[name], rule.schema, `${type}.${name}`);
  }
});

/** Enough of JSON Schema 2020-12 for this schema; the test below checks it uses no other keyword. */
const KEYWORDS = new Set([
  '$schema', '$defs', '$ref', 'title', 'description', 'oneOf', 'type', 'const', 'enum', 'required', 'properties',
  'additionalProperties', 'not', 'pattern', 'minimum', 'maximum', 'items',
]);

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object': return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array': return Array.isArray(value);
    case 'null': return value === null;
    case 'integer': return Number.isInteger(value);
    case 'number': return typeof value === 'number' && Number.isFinite(value); // JSON has no Infinity
    default: return typeof value === type;
  }
}

function validates(s: Schema | boolean, value: unknown): boolean {
  if (typeof s === 'boolean') return s;
  if (typeof s.$ref === 'string') return validates(s.$ref.slice(2).split('/').reduce((o: any, k) => o[k], schema), value);
  if ('const' in s && value !== s.const) return false;
  if (Array.isArray(s.enum) && !s.enum.includes(value)) return false;
  if (s.type !== undefined && ![s.type].flat().some((t) => hasType(value, t as string))) return false;
  if (s.not !== undefined && validates(s.not as Schema, value)) return false;
  if (typeof s.pattern === 'string' && typeof value === 'string' && !new RegExp(s.pattern, 'u').test(value)) return false;
  if (typeof s.minimum === 'number' && typeof value === 'number' && value < s.minimum) return false;
  if (typeof s.maximum === 'number' && typeof value === 'number' && value > s.maximum) return false;
  if (s.items !== undefined && Array.isArray(value) && !value.every((v) => validates(s.items as Schema, v))) return false;
  if (hasType(value, 'object')) {
    const object = value as Record<string, unknown>;
    const properties = (s.properties ?? {}) as Record<string, Schema>;
    if (((s.required ?? []) as string[]).some((k) => !Object.hasOwn(object, k))) return false;
    for (const [k, v] of Object.entries(object)) {
      const sub = Object.hasOwn(properties, k) ? properties[k] : (s.additionalProperties as Schema | undefined) ?? true;
      if (!validates(sub, v)) return false;
    }
  }
  if (Array.isArray(s.oneOf) && s.oneOf.filter((b) => validates(b as Schema, value)).length !== 1) return false;
  return true;
}

function keywordsOf(s: unknown, found: Set<string>, under = ''): Set<string> {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return found;
  for (const [k, v] of Object.entries(s)) {
    if (under === 'properties' || under === '$defs') {
      keywordsOf(v, found); // k is a name, not a keyword
      continue;
    }
    found.add(k);
    if (k === 'oneOf') (v as unknown[]).forEach((b) => keywordsOf(b, found));
    else if (k !== 'const' && k !== 'enum' && k !== 'required') keywordsOf(v, found, k);
  }
  return found;
}

test('the schema and the reader agree on every line and thousands of variants of them', () => {
  assert.deepEqual([...keywordsOf(schema, new Set())].filter((k) => !KEYWORDS.has(k)), []);
  const probes: unknown[] = [
    null, 0, -1, 1.5, 4, 6, 7, 13, 14, '', 'x', 'start', 'end', 'transition', 'accept', 'cached', 'syscall',
    'tcptrace-trace', '1.0', '1.12', '2.0', '0.1', '1.01', true, false, [], [1], {}, { a: 1 }, { lostEvents: 1 },
  ];
  const samples = validTrace();
  samples.push(header({ version: '1.5', options: {} }));
  let compared = 0;
  let accepted = 0;
  const compare = (line: Line, what: string) => {
    assert.equal(validates(schema, line), traceLineProblem(line) === undefined,
      `${what}: schema ${validates(schema, line)}, reader ${traceLineProblem(line) ?? 'ok'}`);
    compared++;
    if (traceLineProblem(line) === undefined) accepted++;
  };
  for (const line of samples) {
    compare(line, String(line.type));
    for (const name of [...Object.keys(line), 'extra']) {
      const { [name]: _, ...without } = line;
      compare(without, `${line.type} without ${name}`);
      for (const probe of probes) compare({ ...line, [name]: probe }, `${line.type}.${name} = ${JSON.stringify(probe)}`);
    }
    if (line.type === 'footer') {
      const counters = line.counters as Line;
      for (const name of [...Object.keys(counters), 'extra']) {
        const { [name]: _, ...without } = counters;
        compare({ ...line, counters: without }, `counters without ${name}`);
        for (const probe of probes) compare({ ...line, counters: { ...counters, [name]: probe } }, `counters.${name}`);
      }
    }
  }
  assert.ok(compared > 3000 && accepted > 300 && compared - accepted > 2000, `${compared} compared, ${accepted} valid`);
});
