/**
 * Writes a trace as it goes (docs/trace-format.md): JSON Lines, or the same
 * lines wrapped as one JSON document, gzip-compressed for a .gz name. Every
 * line is whole when written, so a crash leaves a file readable to its last line.
 *
 * Writes are synchronous, one per batch: an fs.WriteStream buffered without
 * bound while batches kept the event loop busy (1.7 GB after 40 s of a
 * loopback storm, even into /dev/null). Blocking here instead lets a slow
 * disk slow the reader down, so the kernel's ring buffer fills and the
 * events that do not fit are counted as lost, with memory bounded.
 * gzip: each chunk of up to GZIP_MEMBER_BYTES of lines (or a second's worth)
 * becomes one gzip member; a reader sees the members as one stream, and a
 * crash or a full disk loses at most the chunk not yet written.
 * Written in place, as tcpdump -w writes (OutputFile.journal): a crash
 * leaves the file readable under its own name; "-" writes it to stdout.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { CgroupNames, NO_CGROUP_NAMES } from '../host/cgroups';
import { ownNetns } from '../host/netns';
import { SnapshotFile, SnapshotSocket, TransitionEvent } from '../kernel/decoder';
import { TcptraceError } from '../errors';
import { TracerCounters } from '../kernel/native';
import { OutputClosed, OutputFile, WriteFailed, writeErrorText } from '../output-file';
import { MAX_TEXT_BYTES, SnapshotPhase, TRACE_FORMAT, TRACE_VERSION, TraceHeader } from './format';

export type TraceLayout = 'jsonl' | 'json';

/** Lines held before they are compressed and written: bounds memory and what a crash loses. */
const GZIP_MEMBER_BYTES = 1 << 20;
export const GZIP_FLUSH_MS = 1000;
/** Snapshot lines serialised and written at a time. */
const SNAPSHOT_SLICE = 4096;

export class TraceWriter {
  private readonly file: OutputFile;
  private readonly gzip: boolean;
  private readonly gzipFlush?: NodeJS.Timeout;
  private held: string[] = [];
  private heldBytes = 0;
  /** Bytes of whole lines (or whole gzip members) in the file. */
  private committed = 0;
  private failure?: Error;
  private onFailure?: () => void;
  private eventsWritten = 0;
  /** Cgroup ids already named by a `cgroup` line. */
  private readonly cgroupsDone = new Set<number>();

  constructor(
    readonly path: string,
    private readonly layout: TraceLayout = 'jsonl',
    private readonly cgroups: CgroupNames = NO_CGROUP_NAMES,
  ) {
    try {
      this.file = OutputFile.journal(path);
    } catch (err) {
      this.failure = err as Error;
      throw this.writeError();
    }
    this.gzip = path.endsWith('.gz');
    if (this.gzip) this.gzipFlush = setInterval(() => this.compressHeld(), GZIP_FLUSH_MS).unref();
  }

  /** The first write error (a full disk, say), if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Called once, on the first write error. */
  onError(callback: () => void): void {
    this.onFailure = callback;
  }

  header(startNs: number, wallOffsetMs: number, options: Record<string, unknown>): void {
    const header: TraceHeader = {
      type: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, host: bounded(os.hostname()), kernel: bounded(os.release()),
      startTime: new Date(startNs / 1e6 + wallOffsetMs).toISOString(), startNs, wallOffsetMs, options: boundedOptions(options),
      ...recorderNetns(),
    };
    this.put(this.layout === 'json' ? `{"header":${JSON.stringify(header)},"lines":[\n` : `${JSON.stringify(header)}\n`);
  }

  snapshot(phase: SnapshotPhase, tsNs: number, sockets: SnapshotSocket[], files: SnapshotFile[]): void {
    this.lines([JSON.stringify({ type: 'snapshot', phase, tsNs })]);
    // In slices: a host full of TIME_WAIT has hundreds of thousands of sockets.
    for (let i = 0; i < sockets.length; i += SNAPSHOT_SLICE) {
      this.lines(sockets.slice(i, i + SNAPSHOT_SLICE).map(({ closeWait: _kept, ...s }) => JSON.stringify({ type: 'socket', phase, ...s })));
    }
    this.lines(this.cgroupLines(files));
    for (let i = 0; i < files.length; i += SNAPSHOT_SLICE) {
      this.lines(files.slice(i, i + SNAPSHOT_SLICE).map((f) => JSON.stringify({
        type: 'file', phase, ...f, ...(f.cmdline === undefined ? {} : { cmdline: bounded(f.cmdline) }),
      })));
    }
  }

  get events(): number {
    return this.eventsWritten;
  }

  write(events: TransitionEvent[]): void {
    this.eventsWritten += events.length;
    this.lines([...this.cgroupLines(events), ...events.map((e) => JSON.stringify({ type: 'event', ...e }))]);
  }

  /** `cgroup` lines for the ids these owners carry that no line has named yet. */
  private cgroupLines(owners: { cgroupId: number | null; pid: number | null }[]): string[] {
    const out: string[] = [];
    for (const { cgroupId, pid } of owners) {
      if (!cgroupId || this.cgroupsDone.has(cgroupId)) continue;
      // Not known yet (made since the last walk): asked again at its next line.
      const path = this.cgroups.pathOf(cgroupId, pid);
      if (path === null) continue;
      this.cgroupsDone.add(cgroupId);
      out.push(JSON.stringify({ type: 'cgroup', id: cgroupId, path: bounded(path) }));
    }
    return out;
  }

  lost(count: number, total: number): void {
    this.lines([JSON.stringify({ type: 'lost', count, total })]);
  }

  /** Writes the footer and closes the file; resolves once it is written (rejects if any write failed). */
  finish(endNs: number, wallOffsetMs: number, counters: TracerCounters): Promise<void> {
    const footer = JSON.stringify({
      type: 'footer', endTime: new Date(endNs / 1e6 + wallOffsetMs).toISOString(), endNs,
      events: this.eventsWritten, counters,
    });
    // In the JSON document the footer, always last, is the one element with no comma.
    this.put(this.layout === 'json' ? `${footer}\n]}\n` : `${footer}\n`);
    this.compressHeld();
    clearInterval(this.gzipFlush);
    try {
      this.file.commit();
    } catch (err) {
      this.failure ??= err as Error;
    }
    return this.failure ? Promise.reject(this.writeError()) : Promise.resolve();
  }

  /** The failure as the user meets it; OutputClosed (the reader of stdout went away) stays a clean stop. */
  writeError(): TcptraceError | OutputClosed {
    if (this.failure instanceof OutputClosed) return this.failure;
    return new TcptraceError(`cannot write ${this.file?.name ?? this.path}: ${describeWriteError(this.failure)}`, 'EWRITE');
  }

  /** One write per batch, every line whole: a crash leaves a readable file. */
  private lines(lines: string[]): void {
    if (lines.length === 0) return;
    const end = this.layout === 'json' ? ',\n' : '\n';
    this.put(lines.join(end) + end);
  }

  private put(text: string): void {
    if (this.failure) return;
    if (!this.gzip) return this.writeAll(Buffer.from(text));
    this.held.push(text);
    this.heldBytes += text.length;
    if (this.heldBytes >= GZIP_MEMBER_BYTES) this.compressHeld();
  }

  private compressHeld(): void {
    if (this.held.length === 0 || this.failure) return;
    const member = zlib.gzipSync(this.held.join(''));
    this.held = [];
    this.heldBytes = 0;
    this.writeAll(member);
  }

  /**
   * Writes all of it, or fails: the file is then cut back to its last whole
   * line (the lines of this write that fitted stay), or for gzip to its last
   * whole member.
   */
  private writeAll(bytes: Buffer): void {
    try {
      this.file.write(bytes);
      this.committed += bytes.length;
    } catch (err) {
      const done = err instanceof WriteFailed ? err.written : 0;
      this.failure = err instanceof WriteFailed ? err.error : (err as Error);
      if (done > 0) {
        const whole = this.gzip ? 0 : bytes.subarray(0, done).lastIndexOf(0x0a) + 1;
        cutTo(this.file.fd, this.committed + whole);
      }
      this.onFailure?.();
    }
  }

  get bytesWritten(): number {
    return this.committed;
  }
}

/**
 * Free text cut to MAX_TEXT_BYTES once JSON-encoded (a control character
 * takes six), marked "...": what keeps every line readable by the reader.
 */
export function bounded(text: string, maxBytes = MAX_TEXT_BYTES): string {
  const size = (t: string) => Buffer.byteLength(JSON.stringify(t));
  if (size(text) <= maxBytes) return text;
  let kept = text.slice(0, maxBytes);
  // A character takes at most six bytes encoded: dropping excess / 6 of them never drops one too many.
  for (let excess = size(`${kept}...`) - maxBytes; excess > 0 && kept.length; excess = size(`${kept}...`) - maxBytes) {
    kept = kept.slice(0, kept.length - Math.ceil(excess / 6));
  }
  return `${kept}...`;
}

/** The options' strings bounded as any text (a --cgroup path, say). */
function boundedOptions(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, typeof v === 'string' ? bounded(v) : v]));
}

/** Errors that strike mid-recording, after whole lines were written. */
const MID_WRITE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EIO']);

/** `unit`: what the file holds whole after such an error (a binary capture: its blocks). */
export function describeWriteError(err: Error | undefined, unit: 'line' | 'block' = 'line'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const what = writeErrorText(err);
  return MID_WRITE.has(code) ? `${what} (it holds the trace up to its last whole ${unit})` : what;
}

/** A write that failed half-way leaves part of a line (or of a gzip member): cut it off. */
function cutTo(fd: number, size: number): void {
  try {
    if (fs.fstatSync(fd).isFile()) fs.ftruncateSync(fd, size);
  } catch {
    // Left as it is: the reader skips a partial last line too.
  }
}

/** The recorder's own network namespace, for the header, where /proc says it. */
export function recorderNetns(): { netns?: number } {
  const netns = ownNetns();
  return netns === null ? {} : { netns };
}
