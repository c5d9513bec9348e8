/**
 * Writes a binary capture (capture.ts, docs/trace-format.md). The event
 * records never reach JavaScript: the addon's reader thread appends them to
 * the file as it drains the ring buffer (TraceSession.start's capture). This
 * side writes the tables they refer to: the header, the snapshots (with the
 * holders' command lines), the cgroup paths of the owners the records carry,
 * lost counts and the footer, each a block of trace-format JSON lines.
 */
import { hostname, release } from 'node:os';
import { CgroupNames, NO_CGROUP_NAMES } from '../host/cgroups';
import { resetReasonNamesInUse, SnapshotFile, SnapshotSocket } from '../kernel/decoder';
import { TcptraceError } from '../errors';
import { loadNative, NativeCapture, TracerCounters } from '../kernel/native';
import { CaptureTo } from '../kernel/session';
import { SnapshotPhase, TRACE_FORMAT, TRACE_VERSION, TraceHeader } from './format';
import { describeWriteError, recorderNetns } from './writer';

/** Snapshot lines per block: a host full of TIME_WAIT has hundreds of thousands of sockets. */
const SNAPSHOT_SLICE = 4096;
/** How often new owners' cgroups are named and a write error is noticed. */
const SYNC_MS = 1000;

export class CaptureWriter {
  private readonly file: NativeCapture;
  private readonly timer: NodeJS.Timeout;
  private failure?: Error;
  private onFailure?: () => void;
  private readonly cgroupsDone = new Set<number>();
  /** Ids whose path could not be found yet (a cgroup made since the last walk): asked again. */
  private readonly unnamed = new Map<number, number | null>();

  constructor(readonly path: string, private readonly cgroups: CgroupNames = NO_CGROUP_NAMES) {
    try {
      this.file = new (loadNative().Capture)(path);
    } catch (err) {
      this.failure = err as Error;
      throw this.writeError();
    }
    this.timer = setInterval(() => this.sync(), SYNC_MS).unref();
  }

  /** For TraceSession.start: the reader thread writes the records; JS gets them too only if `deliver`. */
  captureTo(deliver: boolean): CaptureTo {
    return { file: this.file, deliver };
  }

  /** The first write error (a full disk, say), if any. */
  get error(): Error | undefined {
    if (!this.failure) {
      const { errorCode, errorMessage } = this.file.stats();
      if (errorCode) this.failure = Object.assign(new Error(errorMessage ?? errorCode), { code: errorCode });
    }
    return this.failure;
  }

  /** Called once, within a second of the first write error. */
  onError(callback: () => void): void {
    this.onFailure = callback;
  }

  get events(): number {
    return this.file.stats().events;
  }

  get bytesWritten(): number {
    return this.file.stats().bytes;
  }

  header(startNs: number, wallOffsetMs: number, options: Record<string, unknown>): void {
    const header: TraceHeader = {
      type: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, host: hostname(), kernel: release(),
      startTime: new Date(startNs / 1e6 + wallOffsetMs).toISOString(), startNs, wallOffsetMs, options,
      resetReasons: resetReasonNamesInUse(), ...recorderNetns(),
    };
    this.table('HEAD', [JSON.stringify(header)]);
  }

  snapshot(phase: SnapshotPhase, tsNs: number, sockets: SnapshotSocket[], files: SnapshotFile[]): void {
    this.nameCgroups(files);
    this.table('SNAP', [JSON.stringify({ type: 'snapshot', phase, tsNs })]);
    for (let i = 0; i < sockets.length; i += SNAPSHOT_SLICE) {
      this.table('SNAP', sockets.slice(i, i + SNAPSHOT_SLICE).map(({ closeWait: _kept, ...s }) => JSON.stringify({ type: 'socket', phase, ...s })));
    }
    for (let i = 0; i < files.length; i += SNAPSHOT_SLICE) {
      this.table('SNAP', files.slice(i, i + SNAPSHOT_SLICE).map((f) => JSON.stringify({ type: 'file', phase, ...f })));
    }
  }

  lost(count: number, total: number): void {
    this.table('LOST', [JSON.stringify({ type: 'lost', count, total })]);
  }

  /** Names the owners' new cgroups, and notices a write error. */
  sync(): void {
    const taken = this.file.takeCgroups();
    const owners: { cgroupId: number; pid: number | null }[] = [...this.unnamed].map(([cgroupId, pid]) => ({ cgroupId, pid }));
    for (let i = 0; i < taken.length; i += 2) owners.push({ cgroupId: taken[i], pid: taken[i + 1] || null });
    this.unnamed.clear();
    this.nameCgroups(owners);
    if (this.error && this.onFailure) {
      const callback = this.onFailure;
      this.onFailure = undefined;
      callback();
    }
  }

  /** Writes the footer and closes the file (the reader thread must have stopped); rejects if any write failed. */
  finish(endNs: number, wallOffsetMs: number, counters: TracerCounters): Promise<void> {
    clearInterval(this.timer);
    this.sync();
    const events = this.events;
    this.table('FOOT', [JSON.stringify({
      type: 'footer', endTime: new Date(endNs / 1e6 + wallOffsetMs).toISOString(), endNs, events, counters,
    })]);
    this.file.close();
    return this.error ? Promise.reject(this.writeError()) : Promise.resolve();
  }

  writeError(): TcptraceError {
    return new TcptraceError(`cannot write ${this.path}: ${describeWriteError(this.failure, 'block')}`, 'EWRITE');
  }

  private table(type: 'HEAD' | 'SNAP' | 'CGRP' | 'LOST' | 'FOOT', lines: string[]): void {
    if (lines.length) this.file.writeTable(type, `${lines.join('\n')}\n`, lines.length);
  }

  /** A `cgroup` line for each id these owners carry that none has named yet. */
  private nameCgroups(owners: { cgroupId: number | null; pid: number | null }[]): void {
    const lines: string[] = [];
    for (const { cgroupId, pid } of owners) {
      if (!cgroupId || this.cgroupsDone.has(cgroupId)) continue;
      const path = this.cgroups.pathOf(cgroupId, pid);
      if (path === null) {
        this.unnamed.set(cgroupId, pid);
        continue;
      }
      this.cgroupsDone.add(cgroupId);
      lines.push(JSON.stringify({ type: 'cgroup', id: cgroupId, path }));
    }
    this.table('CGRP', lines);
  }
}
