import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TransitionEvent } from '../../src/kernel/decoder';
import { TcptraceError } from '../../src/errors';
import { TracerCounters } from '../../src/kernel/native';
import { TraceLine } from '../../src/trace/format';
import { forEachTraceLine, TraceReadResult } from '../../src/trace/reader';
import { bounded, GZIP_FLUSH_MS, TraceWriter } from '../../src/trace/writer';
import { MAX_LINE_BYTES, MAX_TEXT_BYTES } from '../../src/trace/format';
import { CgroupNames } from '../../src/host/cgroups';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-writer-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const COUNTERS: TracerCounters = { lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0 };

function event(sockId: number): TransitionEvent {
  return {
    kind: 'transition', tsNs: 2e9 + sockId, skaddr: 'ffff888100002000', sockId, family: 4, saddr: '127.0.0.1', sport: 40000,
    daddr: '127.0.0.1', dport: 8080, netns: 4026531833, oldstate: 1, newstate: 4, prevStateNs: 1000, pid: 7, comm: 'x',
    cgroupId: null, ownerSource: 'cached', inferred: false, txBytes: 0, rxBytes: 0, error: 0, peerFinReceived: false, idleNs: null,
  };
}

async function readAll(file: string): Promise<{ lines: TraceLine[]; result: TraceReadResult }> {
  const lines: TraceLine[] = [];
  const result = await forEachTraceLine(file, (line) => { lines.push(line); });
  return { lines, result };
}

function started(file: string): TraceWriter {
  const writer = new TraceWriter(file);
  writer.header(1e9, 1.7e12, { command: 'test' });
  writer.snapshot('start', 1e9, [], []);
  return writer;
}

test('a .gz trace reaches the file while still open, flushed every second, so kill -9 loses at most a second', async () => {
  assert.ok(GZIP_FLUSH_MS <= 1000, 'a flush a second at least');
  const file = path.join(dir, 'open.jsonl.gz');
  const writer = started(file);
  const writtenMs = Date.now();
  writer.write([event(1), event(2)]);
  // Still open, no footer: read as a crashed recording would be, until the events are there.
  const readSoFar = () => readAll(file).catch(() => ({ lines: [] as TraceLine[], result: { truncated: true } as TraceReadResult }));
  let read = await readSoFar();
  while (read.lines.length < 4 && Date.now() - writtenMs < 10_000) {
    await new Promise((r) => setTimeout(r, 50));
    read = await readSoFar();
  }
  const { lines, result } = read;
  // On disk before finish(): the timer flushed it, not the end. (How soon depends on the machine's load, not on the writer.)
  assert.deepEqual(lines.map((l) => l.type), ['header', 'snapshot', 'event', 'event']);
  assert.equal(result.truncated, true);
  await writer.finish(3e9, 1.7e12, COUNTERS);
  const whole = await readAll(file);
  assert.equal(whole.result.truncated, false);
  assert.equal(whole.lines.at(-1)!.type, 'footer');
});

test('a write error (no space left): one callback, a message naming the file and the cause', async () => {
  const writer = new TraceWriter('/dev/full');
  let calls = 0;
  writer.onError(() => { calls++; });
  writer.header(1e9, 1.7e12, { command: 'test' });
  writer.write([event(1)]);
  writer.write([event(2)]);
  assert.equal(calls, 1);
  assert.equal((writer.error as NodeJS.ErrnoException).code, 'ENOSPC');
  await assert.rejects(writer.finish(3e9, 1.7e12, COUNTERS), (err: unknown) => {
    assert.ok(err instanceof TcptraceError);
    assert.equal(err.message, 'cannot write /dev/full: no space left on device (it holds the trace up to its last whole line)');
    return true;
  });
});

test('a file that cannot be created fails at once, saying why, without the "holds the trace" note', () => {
  const file = path.join(dir, 'missing', 'x.jsonl');
  assert.throws(() => new TraceWriter(file), (err: unknown) => {
    assert.ok(err instanceof TcptraceError);
    assert.equal(err.message, `cannot write ${file}: no such file or directory`);
    return true;
  });
});

test('a .gz trace of many members (one per MB of lines) reads back as one stream', async () => {
  const file = path.join(dir, 'members.jsonl.gz');
  const writer = started(file);
  const events = Array.from({ length: 12_000 }, (_, i) => event(i + 1)); // about 5 MB of lines
  for (let i = 0; i < events.length; i += 1000) writer.write(events.slice(i, i + 1000));
  await writer.finish(3e9, 1.7e12, COUNTERS);
  const { lines, result } = await readAll(file);
  assert.equal(result.truncated, false);
  assert.equal(lines.filter((l) => l.type === 'event').length, 12_000);
  // More than one member: the file holds the gzip magic more than once.
  const bytes = fs.readFileSync(file);
  let members = 0;
  for (let i = bytes.indexOf(Buffer.from([0x1f, 0x8b, 0x08])); i >= 0; i = bytes.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), i + 1)) members++;
  assert.ok(members >= 4, `${members} gzip members`);
});

test('a JVM\'s 80 KB command line, a deep cgroup path and a long option never make a line the reader refuses', async () => {
  const jvm = `java ${'-Dapp.setting=some-long-value '.repeat(2800)}-jar app.jar`;
  // Control characters take six bytes each in JSON: the bound is on the encoded line, not the characters.
  const controls = `weird ${'\u0001'.repeat(30_000)}`;
  const unicode = `svc ${'\u00e9\u4e2d'.repeat(20_000)}`;
  const deepPath = `/kubepods.slice/${'nested.slice/'.repeat(800)}app.scope`;
  const cgroups: CgroupNames = { pathOf: (id) => (id ? deepPath : null), containerOf: () => null };
  const file = path.join(dir, 'large-fields.jsonl');
  const writer = new TraceWriter(file, 'jsonl', cgroups);
  writer.header(1e9, 1.7e12, { command: 'record', cgroup: deepPath });
  const sockets = [1, 2, 3].map((sockId) => ({
    skaddr: `s${sockId}`, sockId, family: 4 as const, saddr: '127.0.0.1', sport: 8080, daddr: '127.0.0.1', dport: 40_000 + sockId,
    netns: 1, uid: 0, inode: sockId, state: 1,
  }));
  const files = [jvm, controls, unicode].map((cmdline, i) => ({ skaddr: `s${i + 1}`, sockId: i + 1, pid: 100 + i, fd: 3, comm: 'java', cgroupId: 7, cmdline }));
  writer.snapshot('start', 1e9, sockets, files);
  writer.write([{ ...event(1), cgroupId: 7 }]);
  writer.snapshot('end', 2e9, sockets, files);
  await writer.finish(3e9, 1.7e12, COUNTERS);

  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    assert.ok(Buffer.byteLength(line) < MAX_LINE_BYTES / 4, `a line of ${Buffer.byteLength(line)} bytes`);
  }
  const { lines, result } = await readAll(file);
  assert.equal(result.truncated, false);
  const cmdlines = lines.filter((l) => l.type === 'file').map((l) => (l as { cmdline: string }).cmdline);
  assert.equal(cmdlines.length, 6);
  [jvm, controls, unicode].forEach((full, i) => {
    assert.ok(cmdlines[i].endsWith('...') && full.startsWith(cmdlines[i].slice(0, -3)), 'cut, marked, and a prefix of the original');
    assert.ok(Buffer.byteLength(JSON.stringify(cmdlines[i])) <= MAX_TEXT_BYTES);
  });
  const cgroupLine = lines.find((l) => l.type === 'cgroup') as { path: string };
  assert.ok(cgroupLine.path.endsWith('...') && cgroupLine.path.length < deepPath.length);
  const header = lines[0] as unknown as { options: { cgroup: string } };
  assert.ok(header.options.cgroup.endsWith('...'));

  // What fits is kept whole.
  assert.equal(bounded('java -jar app.jar'), 'java -jar app.jar');
  assert.equal(bounded('x'.repeat(MAX_TEXT_BYTES - 2)), 'x'.repeat(MAX_TEXT_BYTES - 2), 'exactly the bound, quotes included');
  assert.equal(bounded('x'.repeat(MAX_TEXT_BYTES - 1)), `${'x'.repeat(MAX_TEXT_BYTES - 5)}...`);
});
