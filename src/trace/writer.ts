/**
 * Writes a trace as it goes (docs/trace-format.md): JSON Lines, or the same
 * lines wrapped as one JSON document, gzip-compressed for a .gz name. Every
 * line is whole when written, so a crash leaves a file readable to its last line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { SnapshotFile, SnapshotSocket, TransitionEvent } from '../decoder';
import { TcptraceError } from '../errors';
import { TracerCounters } from '../native';
import { SnapshotPhase, TRACE_FORMAT, TRACE_VERSION, TraceHeader } from './format';

export type TraceLayout = 'jsonl' | 'json';

/** How often compressed data is pushed to the file: what a crash can lose of a .gz trace. */
const GZIP_FLUSH_MS = 1000;

export class TraceWriter {
  private readonly stream: fs.WriteStream;
  private readonly sink: NodeJS.WritableStream;
  private readonly gzipFlush?: NodeJS.Timeout;
  private unflushed = false;
  private failure?: Error;
  private onFailure?: () => void;
  private eventsWritten = 0;

  constructor(readonly path: string, private readonly layout: TraceLayout = 'jsonl') {
    this.stream = fs.createWriteStream(path, { flags: 'w' });
    this.stream.on('error', (err) => this.fail(err));
    if (path.endsWith('.gz')) {
      const gzip = zlib.createGzip();
      gzip.pipe(this.stream);
      this.sink = gzip;
      // zlib holds what it has compressed until its buffers fill: without a
      // flush, kill -9 or a crash would lose up to megabytes of trace.
      this.gzipFlush = setInterval(() => {
        if (this.unflushed && !this.failure) gzip.flush(zlib.constants.Z_SYNC_FLUSH);
        this.unflushed = false;
      }, GZIP_FLUSH_MS).unref();
    } else {
      this.sink = this.stream;
    }
  }

  /** The first write error (a full disk, say), if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Called once, on the first write error. */
  onError(callback: () => void): void {
    this.onFailure = callback;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.onFailure?.();
  }

  header(startNs: number, wallOffsetMs: number, options: Record<string, unknown>): void {
    const header: TraceHeader = {
      type: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, host: os.hostname(), kernel: os.release(),
      startTime: new Date(startNs / 1e6 + wallOffsetMs).toISOString(), startNs, wallOffsetMs, options,
    };
    if (this.layout === 'json') this.sink.write(`{"header":${JSON.stringify(header)},"lines":[\n`);
    else this.sink.write(`${JSON.stringify(header)}\n`);
  }

  snapshot(phase: SnapshotPhase, tsNs: number, sockets: SnapshotSocket[], files: SnapshotFile[]): void {
    this.lines([
      JSON.stringify({ type: 'snapshot', phase, tsNs }),
      ...sockets.map((s) => JSON.stringify({ type: 'socket', phase, ...s })),
      ...files.map((f) => JSON.stringify({ type: 'file', phase, ...f })),
    ]);
  }

  get events(): number {
    return this.eventsWritten;
  }

  write(events: TransitionEvent[]): void {
    this.eventsWritten += events.length;
    this.lines(events.map((e) => JSON.stringify({ type: 'event', ...e })));
  }

  lost(count: number, total: number): void {
    this.lines([JSON.stringify({ type: 'lost', count, total })]);
  }

  /** Writes the footer and closes the file; resolves once it is on disk (or failed). */
  finish(endNs: number, wallOffsetMs: number, counters: TracerCounters): Promise<void> {
    const footer = JSON.stringify({
      type: 'footer', endTime: new Date(endNs / 1e6 + wallOffsetMs).toISOString(), endNs,
      events: this.eventsWritten, counters,
    });
    // In the JSON document the footer, always last, is the one element with no comma.
    if (!this.failure) this.sink.write(this.layout === 'json' ? `${footer}\n]}\n` : `${footer}\n`);
    clearInterval(this.gzipFlush);
    return new Promise((resolve, reject) => {
      const closed = () => {
        if (!this.failure) return resolve();
        if (!this.path.endsWith('.gz')) cutToLastWholeLine(this.path);
        reject(this.writeError());
      };
      // A failed file stream has closed already: waiting for 'close' would hang.
      if (this.stream.closed) return closed();
      this.stream.once('close', closed);
      this.sink.end();
    });
  }

  writeError(): TcptraceError {
    return new TcptraceError(`cannot write ${this.path}: ${describeWriteError(this.failure)}`, 'EWRITE');
  }

  /** One write per batch, every line whole: a crash leaves a readable file. */
  private lines(lines: string[]): void {
    if (lines.length === 0 || this.failure) return;
    const end = this.layout === 'json' ? ',\n' : '\n';
    this.sink.write(lines.join(end) + end);
    this.unflushed = true;
  }

  get bytesWritten(): number {
    return this.stream.bytesWritten;
  }
}

const WRITE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
};
/** Errors that strike mid-recording, after whole lines were written. */
const MID_WRITE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EIO']);

function describeWriteError(err: Error | undefined): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const what = WRITE_ERRORS[code] ?? err?.message ?? 'unknown error';
  return MID_WRITE.has(code) ? `${what} (it holds the trace up to its last whole line)` : what;
}

/**
 * A write that fails half-way (a full disk) leaves part of a line at the
 * end: cut the file back to its last newline, so that every line in it is
 * whole. Best effort: the reader also skips a partial last line.
 */
function cutToLastWholeLine(path: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, 'r+');
    const { size } = fs.fstatSync(fd);
    if (!fs.fstatSync(fd).isFile()) return;
    const chunk = Buffer.alloc(64 * 1024);
    for (let end = size; end > 0;) {
      const start = Math.max(0, end - chunk.length);
      const read = fs.readSync(fd, chunk, 0, end - start, start);
      const newline = chunk.subarray(0, read).lastIndexOf(0x0a);
      if (newline >= 0) {
        if (start + newline + 1 < size) fs.ftruncateSync(fd, start + newline + 1);
        return;
      }
      end = start;
    }
  } catch {
    // Left as it is: the reader skips a partial last line too.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
