/**
 * The binary capture (docs/trace-format.md, "Binary capture"): written by the
 * addon's writer (no root needed: it only writes a file), read back by
 * src/trace/capture-reader.ts through readTrace, as every report reads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEvent, EVENT_LAYOUT } from '../../src/kernel/decoder';
import { loadNative } from '../../src/kernel/native';
import { TcptraceError } from '../../src/errors';
import {
  BLOCK_HEADER, BLOCK_RECORDS, CAPTURE_MAGIC, CAPTURE_MAJOR, CAPTURE_MINOR, CODECS, FILE_HEADER, lz4Decompress, TABLE_LINES, typeCode,
} from '../../src/trace/capture';
import { CaptureWriter } from '../../src/trace/capture-writer';
import { TraceLine } from '../../src/trace/format';
import { readTrace, readTraceBatches, TraceReadResult } from '../../src/trace/reader';
import { stormRecords } from './records';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-capture-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

const HEADER = {
  type: 'header', format: 'tcptrace-trace', version: '1.2', host: 'h', kernel: 'k',
  startTime: '2026-12-04T20:00:00.000Z', startNs: 4_999_000_000_000, wallOffsetMs: 1_796_000_000_000.5, options: { command: 'record' },
};
const START = [
  { type: 'snapshot', phase: 'start', tsNs: 4_999_000_000_000 },
  { type: 'socket', phase: 'start', skaddr: 'ffff888100000000', sockId: 1, family: 4, saddr: '127.0.0.1', sport: 9000, daddr: '0.0.0.0', dport: 0, netns: 4026531840, uid: 0, inode: 7, state: 10, acceptQueue: 0, acceptQueueLimit: 128 },
  { type: 'file', phase: 'start', skaddr: 'ffff888100000000', sockId: 1, pid: 2000, fd: 3, comm: 'node', cgroupId: 7263, cmdline: 'node server.js' },
];
const CGROUP = { type: 'cgroup', id: 7263, path: '/system.slice/storm.service' };
const LOST = { type: 'lost', count: 3, total: 3 };
const END = [{ type: 'snapshot', phase: 'end', tsNs: 5_001_000_000_000 }];
const COUNTERS = { lostEvents: 3, lostRingBufferFull: 3, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0 };

const jsonl = (lines: object[]) => lines.map((l) => `${JSON.stringify(l)}\n`).join('');

/** A whole capture as `record` writes one: its tables, and the records in between. */
function writeCapture(file: string, records: Buffer, parts: { cgroupAfterRecords?: boolean } = {}): void {
  const capture = new (loadNative().Capture)(file);
  capture.writeTable('HEAD', jsonl([HEADER]), 1);
  capture.writeTable('SNAP', jsonl(START), START.length);
  const half = Math.floor(records.length / EVENT_LAYOUT.size / 2) * EVENT_LAYOUT.size;
  capture.appendEvents(records.subarray(0, half));
  // The writer names an owner's cgroup once it has seen it: after records that carry it.
  if (parts.cgroupAfterRecords) capture.writeTable('CGRP', jsonl([CGROUP]), 1);
  capture.writeTable('LOST', jsonl([LOST]), 1);
  capture.appendEvents(records.subarray(half));
  capture.writeTable('SNAP', jsonl(END), END.length);
  const footer = { type: 'footer', endTime: '2026-12-04T20:00:02.000Z', endNs: 5_001_000_000_000, events: records.length / EVENT_LAYOUT.size, counters: COUNTERS };
  capture.writeTable('FOOT', jsonl([footer]), 1);
  capture.close();
}

async function readAll(file: string): Promise<{ lines: TraceLine[]; result: TraceReadResult }> {
  const lines: TraceLine[] = [];
  const reading = readTrace(file);
  for (;;) {
    const next = await reading.next();
    if (next.done) return { lines, result: next.value };
    lines.push(next.value);
  }
}

/** Each block's type, codec and stored length, from the file. */
function blocksOf(file: string): { type: string; codec: number; offset: number; stored: number; count: number }[] {
  const b = fs.readFileSync(file);
  const blocks = [];
  for (let at = FILE_HEADER.size; at + BLOCK_HEADER.size <= b.length;) {
    const stored = b.readUInt32LE(at + BLOCK_HEADER.stored);
    blocks.push({ type: b.toString('latin1', at, at + 4), codec: b[at + BLOCK_HEADER.codec], offset: at, stored, count: b.readUInt32LE(at + BLOCK_HEADER.count) });
    at += BLOCK_HEADER.size + stored;
  }
  return blocks;
}

const RECORDS = stormRecords(20_000);

test('the capture constants are the addon\'s (native/capture.h)', () => {
  const c = loadNative().layout.capture;
  assert.deepEqual([...CAPTURE_MAGIC], c.magic);
  assert.deepEqual([CAPTURE_MAJOR, CAPTURE_MINOR, FILE_HEADER.size, BLOCK_HEADER.size, BLOCK_RECORDS], [c.major, c.minor, c.fileHeaderSize, c.blockHeaderSize, c.blockRecords]);
  assert.deepEqual([CODECS.stored, CODECS.lz4], [c.stored, c.lz4]);
  assert.deepEqual(Object.fromEntries(['RECS', ...Object.keys(TABLE_LINES)].map((t) => [t, typeCode(t)])), c.types);
});

test('round trip: the tables and every record read back as the lines record writes in JSON, in order', async () => {
  const file = path.join(dir, 'round.tcap');
  writeCapture(file, RECORDS, { cgroupAfterRecords: true });
  const { lines, result } = await readAll(file);
  assert.deepEqual(result, { truncated: false, lines: lines.length });
  const events = lines.filter((l) => l.type === 'event');
  assert.equal(events.length, 20_000);
  for (let i = 0; i < events.length; i += 997) assert.deepEqual(events[i], { type: 'event', ...decodeEvent(RECORDS, i * EVENT_LAYOUT.size) });
  // The cgroup table comes right after the header, wherever it was written; the rest in file order.
  const tables = lines.filter((l) => l.type !== 'event');
  assert.deepEqual(tables.map((l) => l.type), ['header', 'cgroup', 'snapshot', 'socket', 'file', 'lost', 'snapshot', 'footer']);
  assert.deepEqual(tables.slice(0, 5), [HEADER, CGROUP, ...START]);
  assert.equal(lines.indexOf(tables[5]), 5 + 10_000, 'the lost line between the two halves of the records');

  // In batches: the records as written, byte for byte, in blocks of at most BLOCK_RECORDS.
  const batches = readTraceBatches(file);
  const raw: Buffer[] = [];
  for (let next = await batches.next(); !next.done; next = await batches.next()) if ('records' in next.value) raw.push(next.value.records);
  assert.ok(Buffer.concat(raw).equals(RECORDS));
  const recs = blocksOf(file).filter((b) => b.type === 'RECS');
  assert.ok(recs.every((b) => b.count <= BLOCK_RECORDS && b.codec === CODECS.lz4), JSON.stringify(recs));
  const bytesPerRecord = recs.reduce((n, b) => n + b.stored + BLOCK_HEADER.size, 0) / 20_000;
  assert.ok(bytesPerRecord < 48, `${bytesPerRecord} bytes per record`);
});

test('a capture cut anywhere reads up to its last whole block, and says it was cut', async () => {
  const file = path.join(dir, 'whole.tcap');
  writeCapture(file, RECORDS);
  const whole = fs.readFileSync(file);
  const blocks = blocksOf(file);
  const secondRecs = blocks.filter((b) => b.type === 'RECS')[1];
  const eventsBefore = blocks.filter((b) => b.type === 'RECS' && b.offset < secondRecs.offset).reduce((n, b) => n + b.count, 0);
  const footer = blocks.at(-1)!;
  for (const [name, cutAt, events] of [
    ['inside a record block', secondRecs.offset + BLOCK_HEADER.size + 100, eventsBefore],
    ['inside a block header', secondRecs.offset + 5, eventsBefore],
    ['at a block boundary, before the footer', footer.offset, 20_000],
  ] as const) {
    const cut = path.join(dir, 'cut.tcap');
    fs.writeFileSync(cut, whole.subarray(0, cutAt));
    const { lines, result } = await readAll(cut);
    assert.equal(result.truncated, true, name);
    assert.equal(lines.filter((l) => l.type === 'event').length, events, name);
    assert.equal(lines.at(-1)?.type === 'footer', false, name);
  }
  for (const [cutAt, message] of [[10, /ends inside its file header/], [FILE_HEADER.size + 3, /ends before its header block/]] as const) {
    const cut = path.join(dir, 'cut-early.tcap');
    fs.writeFileSync(cut, whole.subarray(0, cutAt));
    await assert.rejects(readAll(cut), (err: Error) => err instanceof TcptraceError && message.test(err.message) && err.message.startsWith(cut));
  }
});

test('damage or a foreign file is one clear line naming the file (and the block)', async () => {
  const file = path.join(dir, 'good.tcap');
  writeCapture(file, RECORDS);
  const good = fs.readFileSync(file);
  const recs = blocksOf(file).find((b) => b.type === 'RECS')!;
  const damaged = (change: (b: Buffer) => void, name: string) => {
    const b = Buffer.from(good);
    change(b);
    const p = path.join(dir, name);
    fs.writeFileSync(p, b);
    return p;
  };
  const cases: [string, RegExp][] = [
    [damaged((b) => { b[recs.offset + BLOCK_HEADER.size + 50] ^= 0xff; }, 'flipped.tcap'), /flipped\.tcap: block \d+ \(RECS at byte \d+\): checksum mismatch: the file is damaged$/],
    [damaged((b) => { b.write('ZZZZ', recs.offset, 'latin1'); }, 'type.tcap'), /type\.tcap: block \d+ \(ZZZZ at byte \d+\): unknown block type$/],
    [damaged((b) => { b.writeUInt16LE(CAPTURE_MAJOR + 1, FILE_HEADER.major); }, 'newer.tcap'), /newer\.tcap: capture format version 2\.0 is newer than this tcptrace reads \(1\.0\): upgrade tcptrace$/],
    [damaged((b) => { b.writeUInt16LE(264, FILE_HEADER.recordSize); }, 'size.tcap'), /size\.tcap: records of 264 bytes: this tcptrace reads 136-byte records$/],
    [damaged((b) => { b.writeUInt32LE(0x7fffffff, recs.offset + BLOCK_HEADER.stored); }, 'huge.tcap'), /huge\.tcap: block \d+ \(RECS at byte \d+\): a block of 2147483647 bytes .* the file is damaged$/],
    [damaged((b) => { b.writeUInt32LE(recs.count + 1, recs.offset + BLOCK_HEADER.count); }, 'count.tcap'), /count\.tcap: block \d+ \(RECS at byte \d+\): \d+ bytes are not \d+ records$/],
    [damaged((b) => { b.fill(0x41, 0, 4); }, 'foreign.tcap'), /foreign\.tcap:1: not a tcptrace trace \(no header\)$/],
  ];
  // Lines of the wrong type for their block, in the cgroup tables (read first) and elsewhere.
  for (const [type, line, name] of [['CGRP', LOST, 'wrong-cgroup.tcap'], ['LOST', CGROUP, 'wrong-lost.tcap']] as const) {
    const p = path.join(dir, name);
    const capture = new (loadNative().Capture)(p);
    capture.writeTable('HEAD', jsonl([HEADER]), 1);
    capture.writeTable(type, jsonl([line]), 1);
    capture.close();
    cases.push([p, new RegExp(`block 2 \\(${type} at byte \\d+\\): a ${line.type} line in a ${type} block$`)]);
  }
  for (const [p, message] of cases) {
    await assert.rejects(readAll(p), (err: Error) => {
      assert.ok(err instanceof TcptraceError, `${p}: ${err.stack}`);
      assert.match(err.message, message);
      assert.equal(err.message.split('\n').length, 1);
      return true;
    });
  }
});

test('LZ4: the addon\'s blocks decompress; malformed data is an error, never a read past either end', () => {
  const out = Buffer.alloc(16);
  // A literal run of 4 then a match of 12 at offset 4: 16 bytes of "abcd".
  lz4Decompress(Buffer.from([0x48, 0x61, 0x62, 0x63, 0x64, 0x04, 0x00, 0x00]), out);
  assert.equal(out.toString(), 'abcdabcdabcdabcd');
  for (const bad of [[0x48, 0x61], [0x48, 0x61, 0x62, 0x63, 0x64, 0x00, 0x00], [0x48, 0x61, 0x62, 0x63, 0x64, 0x09, 0x00], [0xf0, 0xff, 0xff], [0x10, 0x61, 0x05, 0x00]]) {
    assert.throws(() => lz4Decompress(Buffer.from(bad), Buffer.alloc(16)), /LZ4/, JSON.stringify(bad));
  }
});

test('a write error is one line naming the file; an unwritable path fails at once', () => {
  assert.throws(() => new CaptureWriter('/dev/full'), (err: Error) => err instanceof TcptraceError && err.message === 'cannot write /dev/full: no space left on device (it holds the trace up to its last whole block)');
  assert.throws(() => new CaptureWriter(path.join(dir, 'no', 'such.tcap')), (err: Error) => err instanceof TcptraceError && /^cannot write .*such\.tcap: no such file or directory$/.test(err.message));
});
