/**
 * Writes a trace as it goes (docs/trace-format.md): JSON Lines, or the same
 * lines wrapped as one JSON document, gzip-compressed for a .gz name. Every
 * line is whole when written, so a crash leaves a file readable to its last line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { CgroupNames, NO_CGROUP_NAMES } from '../cgroups';
import { SnapshotFile, SnapshotSocket, TransitionEvent } from '../decoder';
import { TcptraceError } from '../errors';
import { TracerCounters } from '../native';
import { SnapshotPhase, TRACE_FORMAT, TRACE_VERSION, TraceHeader } from './format';

export type TraceLayout = 'jsonl' | 'json';

export class TraceWriter {
  private readonly stream: fs.WriteStream;
  private readonly sink: NodeJS.WritableStream;
  private failure?: Error;
  private eventsWritten = 0;
  /** Cgroup ids already named by a `cgroup` line. */
  private readonly cgroupsDone = new Set<number>();

  constructor(
    readonly path: string,
    private readonly layout: TraceLayout = 'jsonl',
    private readonly cgroups: CgroupNames = NO_CGROUP_NAMES,
  ) {
    this.stream = fs.createWriteStream(path, { flags: 'w' });
    this.stream.on('error', (err) => { this.failure ??= err; });
    if (path.endsWith('.gz')) {
      const gzip = zlib.createGzip();
      gzip.pipe(this.stream);
      this.sink = gzip;
    } else {
      this.sink = this.stream;
    }
  }

  /** The first write error (a full disk, say), if any. */
  get error(): Error | undefined {
    return this.failure;
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
      ...this.cgroupLines(files),
      ...files.map((f) => JSON.stringify({ type: 'file', phase, ...f })),
    ]);
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
      out.push(JSON.stringify({ type: 'cgroup', id: cgroupId, path }));
    }
    return out;
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
    return new Promise((resolve, reject) => {
      this.stream.once('close', () => (this.failure ? reject(this.writeError()) : resolve()));
      this.sink.end();
    });
  }

  writeError(): TcptraceError {
    return new TcptraceError(`cannot write ${this.path}: ${this.failure?.message ?? 'unknown error'}`, 'EWRITE');
  }

  /** One write per batch, every line whole: a crash leaves a readable file. */
  private lines(lines: string[]): void {
    if (lines.length === 0 || this.failure) return;
    const end = this.layout === 'json' ? ',\n' : '\n';
    this.sink.write(lines.join(end) + end);
  }

  get bytesWritten(): number {
    return this.stream.bytesWritten;
  }
}
