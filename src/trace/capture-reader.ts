/**
 * Reads a binary capture (capture.ts, docs/trace-format.md) block by block:
 * event blocks as the raw records they hold (no object per event until a
 * consumer decodes them), table blocks as validated trace lines.
 *
 * - Every block's CRC-32 is checked, its lengths bounded, and every table line
 *   goes through reader.ts's line checker (fields and order), passed in as
 *   `makeChecker` (reader.ts imports this module, not the other way round).
 * - A file cut off by a crash or a full disk is read up to its last whole
 *   block; the result then says `truncated: true`.
 * - The cgroup tables are read first (the block headers let the reader skip
 *   the event blocks) and handed on right after the header: the writer names
 *   an id once its owner has been seen, so the names may come after the
 *   records that carry them.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { decodeEvent, EVENT_LAYOUT, useResetReasonNames } from '../kernel/decoder';
import { TcptraceError } from '../errors';
import {
  BLOCK_HEADER, CAPTURE_MAJOR, CAPTURE_MINOR, CAPTURE_VERSION, CODECS, FILE_HEADER, isCaptureMagic, lz4Decompress,
  MAX_BLOCK_BYTES, TABLE_LINES, TableType, typeName,
} from './capture';
import { TraceLine } from './format';

/** What a capture needs of reader.ts's line checker. */
export interface LineChecker {
  /** The validated line (the first one must be the header), or undefined for one to skip. */
  accept(bytes: Buffer, lineNumber: number): TraceLine | undefined;
  /** Event records come here: allowed where event lines are. */
  expectEvents(lineNumber: number): void;
  /** The footer has been read. */
  readonly complete: boolean;
}
/** A checker whose messages start with `where(lineNumber)`. */
export type MakeChecker = (where: (lineNumber: number) => string) => LineChecker;

/** A table block's lines, or an event block's records (whole 136-byte struct tcptrace_event records). */
export type CaptureItem = { lines: TraceLine[] } | { records: Buffer };

export interface CaptureReadResult {
  truncated: boolean;
  /** Lines and records yielded. */
  lines: number;
}

interface Block {
  index: number;
  offset: number;
  type: string;
  codec: number;
  stored: number;
  raw: number;
  count: number;
  crc: number;
}

const crc32 = zlib.crc32;

class CaptureFileReader {
  private constructor(readonly path: string, private readonly handle: fs.promises.FileHandle, readonly size: number, readonly minor: number) {}

  static async open(path: string): Promise<CaptureFileReader> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(path, 'r');
    } catch (err) {
      throw new TcptraceError(`${path}: cannot read (${(err as Error).message})`, 'ETRACE');
    }
    try {
      const { size } = await handle.stat();
      const header = Buffer.alloc(FILE_HEADER.size);
      const { bytesRead } = await handle.read(header, 0, header.length, 0);
      if (!isCaptureMagic(header.subarray(0, bytesRead))) throw fail(path, 'not a tcptrace capture (no magic)');
      if (bytesRead < FILE_HEADER.size) throw fail(path, 'the capture ends inside its file header');
      const major = header.readUInt16LE(FILE_HEADER.major), minor = header.readUInt16LE(FILE_HEADER.minor);
      const version = `${major}.${minor}`;
      if (major > CAPTURE_MAJOR) throw fail(path, `capture format version ${version} is newer than this tcptrace reads (${CAPTURE_VERSION}): upgrade tcptrace`);
      if (major < CAPTURE_MAJOR) throw fail(path, `capture format version ${version} is older than this tcptrace reads (${CAPTURE_VERSION})`);
      const recordSize = header.readUInt16LE(FILE_HEADER.recordSize);
      if (recordSize !== EVENT_LAYOUT.size) {
        throw fail(path, `records of ${recordSize} bytes: this tcptrace reads ${EVENT_LAYOUT.size}-byte records`);
      }
      return new CaptureFileReader(path, handle, size, minor);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  /** The block at `offset`, or null where the file ends (or is cut) before its header does. */
  async blockAt(offset: number, index: number): Promise<Block | null> {
    if (offset + BLOCK_HEADER.size > this.size) return null;
    const h = Buffer.alloc(BLOCK_HEADER.size);
    await this.handle.read(h, 0, h.length, offset);
    const block: Block = {
      index, offset, type: typeName(h.readUInt32LE(BLOCK_HEADER.type)), codec: h[BLOCK_HEADER.codec],
      stored: h.readUInt32LE(BLOCK_HEADER.stored), raw: h.readUInt32LE(BLOCK_HEADER.raw),
      count: h.readUInt32LE(BLOCK_HEADER.count), crc: h.readUInt32LE(BLOCK_HEADER.crc),
    };
    if (block.stored > MAX_BLOCK_BYTES || block.raw > MAX_BLOCK_BYTES) {
      throw this.blockError(block, `a block of ${block.stored} bytes (${block.raw} raw): larger than any tcptrace writes, the file is damaged`);
    }
    return block;
  }

  /** The block's raw bytes, checked; null if the file is cut inside it. */
  async payload(block: Block): Promise<Buffer | null> {
    const start = block.offset + BLOCK_HEADER.size;
    if (start + block.stored > this.size) return null;
    const stored = Buffer.allocUnsafe(block.stored);
    await this.handle.read(stored, 0, block.stored, start);
    if (crc32(stored) >>> 0 !== block.crc) throw this.blockError(block, 'checksum mismatch: the file is damaged');
    if (block.codec === CODECS.stored) {
      if (block.raw !== block.stored) throw this.blockError(block, 'stored block with two different lengths: the file is damaged');
      return stored;
    }
    if (block.codec !== CODECS.lz4) throw this.blockError(block, `unknown compression ${block.codec}`);
    const raw = Buffer.allocUnsafe(block.raw);
    try {
      lz4Decompress(stored, raw);
    } catch (err) {
      throw this.blockError(block, `${(err as Error).message}: the file is damaged`);
    }
    return raw;
  }

  blockError(block: Block, reason: string): TcptraceError {
    return fail(this.path, `block ${block.index} (${block.type} at byte ${block.offset}): ${reason}`);
  }

  /** Every whole cgroup block's lines, in order, with the block each is in (a cut block is the main pass's to report). */
  async cgroupLines(): Promise<{ text: Buffer; block: Block }[]> {
    const lines: { text: Buffer; block: Block }[] = [];
    for (let offset = FILE_HEADER.size, index = 1; ; index++) {
      const block = await this.blockAt(offset, index);
      if (!block || offset + BLOCK_HEADER.size + block.stored > this.size) return lines;
      if (block.type === 'CGRP') lines.push(...this.tableLines(block, (await this.payload(block))!).map((text) => ({ text, block })));
      offset += BLOCK_HEADER.size + block.stored;
    }
  }

  /** A table block's lines, as many as its header says. */
  tableLines(block: Block, payload: Buffer): Buffer[] {
    const texts = splitLines(payload);
    if (texts.length !== block.count) throw this.blockError(block, `${texts.length} lines, the block header says ${block.count}`);
    return texts;
  }
}

function fail(path: string, reason: string): TcptraceError {
  return new TcptraceError(`${path}: ${reason}`, 'ETRACE');
}

function splitLines(text: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let start = 0; start < text.length;) {
    const end = text.indexOf(0x0a, start);
    lines.push(text.subarray(start, end < 0 ? text.length : end));
    start = end < 0 ? text.length : end + 1;
  }
  return lines;
}

/** Whether the file at `path` starts as a capture does (false if it cannot be read: the caller reports that). */
export async function isCaptureFile(path: string): Promise<boolean> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(path, 'r');
    const first = Buffer.alloc(FILE_HEADER.size);
    const { bytesRead } = await handle.read(first, 0, first.length, 0);
    return isCaptureMagic(first.subarray(0, bytesRead));
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

/**
 * Streams the capture at `path`: each table block's lines (validated, in
 * order; the cgroup tables right after the header), each event block's records.
 */
export async function* readCaptureItems(path: string, makeChecker: MakeChecker): AsyncGenerator<CaptureItem, CaptureReadResult, undefined> {
  const file = await CaptureFileReader.open(path);
  try {
    let where = '';
    const checker = makeChecker(() => `${path}: ${where}`);
    const cgroups = await file.cgroupLines();
    let lineNumber = 0, yielded = 0, truncated = false;
    let offset = FILE_HEADER.size;
    for (let index = 1; ; index++) {
      const block = await file.blockAt(offset, index);
      if (!block) {
        truncated = offset < file.size;
        break;
      }
      where = `block ${index} (${block.type} at byte ${offset})`;
      const payload = await file.payload(block);
      if (!payload) {
        truncated = true;
        break;
      }
      offset += BLOCK_HEADER.size + block.stored;
      if (block.type === 'RECS') {
        if (block.raw !== block.count * EVENT_LAYOUT.size) throw file.blockError(block, `${block.raw} bytes are not ${block.count} records`);
        checker.expectEvents(lineNumber + 1);
        yielded += block.count;
        yield { records: payload };
        continue;
      }
      if (block.type === 'CGRP') continue; // handed on after the header
      if (!Object.hasOwn(TABLE_LINES, block.type)) {
        // A later minor version may add block types; this one's are known.
        if (file.minor > CAPTURE_MINOR) continue;
        throw file.blockError(block, 'unknown block type');
      }
      const lines: TraceLine[] = [];
      const take = (text: Buffer, from: Block) => {
        const line = checker.accept(text, ++lineNumber);
        if (!line) return;
        if (!(TABLE_LINES[from.type as TableType] as readonly string[]).includes(line.type)) {
          throw file.blockError(from, `a ${line.type} line in a ${from.type} block`);
        }
        // The records carry RST reasons as the recording kernel's codes: name them as it did.
        if (line.type === 'header') useResetReasonNames(line.resetReasons ?? []);
        lines.push(line);
      };
      for (const text of file.tableLines(block, payload)) take(text, block);
      for (const { text, block: from } of block.type === 'HEAD' ? cgroups : []) {
        where = `block ${from.index} (CGRP at byte ${from.offset})`;
        take(text, from);
      }
      yielded += lines.length;
      yield { lines };
    }
    if (lineNumber === 0) throw fail(path, 'the capture ends before its header block');
    return { truncated: truncated || !checker.complete, lines: yielded };
  } finally {
    await file.close();
  }
}

/** The same, one trace line at a time: events decoded as `record` would have written them as JSON. */
export async function* readCaptureLines(path: string, makeChecker: MakeChecker): AsyncGenerator<TraceLine, CaptureReadResult, undefined> {
  const items = readCaptureItems(path, makeChecker);
  for (;;) {
    const next = await items.next();
    if (next.done) return next.value;
    const item = next.value;
    if ('lines' in item) {
      yield* item.lines;
      continue;
    }
    for (let at = 0; at < item.records.length; at += EVENT_LAYOUT.size) {
      yield { type: 'event', ...decodeEvent(item.records, at) };
    }
  }
}
