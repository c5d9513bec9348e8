/**
 * The binary capture's layout (docs/trace-format.md, "Binary capture"): a
 * file header, then blocks, each a 24-byte header and its payload. Event
 * blocks hold the kernel's 136-byte records as they came (decoder.ts reads
 * them); table blocks hold trace-format lines as JSON Lines. native/capture.h
 * writes it; test/unit/capture.test.ts holds these constants to the addon's.
 */
import { TraceLine } from './format';

/** "\x89TCPCAP\x1a": not text, JSON or gzip, so a reader can tell a capture by its first 8 bytes. */
export const CAPTURE_MAGIC = Buffer.from([0x89, 0x54, 0x43, 0x50, 0x43, 0x41, 0x50, 0x1a]);
export const CAPTURE_MAJOR = 1;
export const CAPTURE_MINOR = 0;
export const CAPTURE_VERSION = `${CAPTURE_MAJOR}.${CAPTURE_MINOR}`;

/** magic[8], u16 major, u16 minor, u16 record size, u16 zero; little-endian. */
export const FILE_HEADER = { size: 16, major: 8, minor: 10, recordSize: 12 } as const;
/** u32 type, u8 codec, u8[3] zero, u32 stored bytes, u32 raw bytes, u32 count, u32 CRC-32 of the stored bytes. */
export const BLOCK_HEADER = { size: 24, type: 0, codec: 4, stored: 8, raw: 12, count: 16, crc: 20 } as const;
/** Records per event block as the writer makes them (a reader takes any count). */
export const BLOCK_RECORDS = 8192;
export const CODECS = { stored: 0, lz4: 1 } as const;
/** Larger blocks are damage, not data: the writer's are about 1.1 MB. */
export const MAX_BLOCK_BYTES = 64 << 20;

/** The table block types (besides RECS, the event records), and which trace-format lines each may hold. */
export const TABLE_LINES = {
  HEAD: ['header'], SNAP: ['snapshot', 'socket', 'file'], CGRP: ['cgroup'], LOST: ['lost'], FOOT: ['footer'],
} as const satisfies Record<string, readonly TraceLine['type'][]>;
export type TableType = keyof typeof TABLE_LINES;

/** A block type's u32, as its four letters read little-endian. */
export function typeCode(type: string): number {
  return Buffer.from(type, 'latin1').readUInt32LE(0);
}

export function typeName(code: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(code >>> 0);
  return /^[A-Z]{4}$/.test(b.toString('latin1')) ? b.toString('latin1') : `0x${(code >>> 0).toString(16)}`;
}

export function isCaptureMagic(firstBytes: Buffer): boolean {
  return firstBytes.length >= CAPTURE_MAGIC.length && CAPTURE_MAGIC.equals(firstBytes.subarray(0, CAPTURE_MAGIC.length));
}

/**
 * Decompresses one LZ4 block (the LZ4 block format, no frame) into `out`,
 * which must be exactly as long as the raw data. Throws on any inconsistency:
 * the input is a file's, not to be trusted. A few dozen lines do not warrant
 * a dependency: Node has no LZ4, and the format is small and fixed.
 */
export function lz4Decompress(src: Buffer, out: Buffer): void {
  let ip = 0, op = 0;
  const end = src.length;
  for (;;) {
    if (ip >= end) throw new Error('LZ4 data ends early');
    const token = src[ip++];
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (ip >= end) throw new Error('LZ4 data ends early');
        b = src[ip++];
        literals += b;
      } while (b === 255);
    }
    if (ip + literals > end || op + literals > out.length) throw new Error('LZ4 literals run past the end');
    copyBytes(src, ip, out, op, literals);
    ip += literals;
    op += literals;
    if (ip === end) break; // the last sequence has literals only
    if (ip + 2 > end) throw new Error('LZ4 data ends early');
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    let length = token & 15;
    if (length === 15) {
      let b: number;
      do {
        if (ip >= end) throw new Error('LZ4 data ends early');
        b = src[ip++];
        length += b;
      } while (b === 255);
    }
    length += 4;
    const from = op - offset;
    if (offset === 0 || from < 0) throw new Error('LZ4 match before the start');
    if (op + length > out.length) throw new Error('LZ4 match runs past the end');
    if (offset >= length) copyBytes(out, from, out, op, length);
    else for (let i = 0; i < length; i++) out[op + i] = out[from + i]; // overlapping: a repeat
    op += length;
  }
  if (op !== out.length) throw new Error(`LZ4 data holds ${op} bytes, not ${out.length}`);
}

/** Short copies in JS (a native call costs more than it saves), long ones native. */
function copyBytes(src: Buffer, from: number, dst: Buffer, to: number, length: number): void {
  if (length < 32) {
    for (let i = 0; i < length; i++) dst[to + i] = src[from + i];
  } else {
    src.copy(dst, to, from, from + length);
  }
}
