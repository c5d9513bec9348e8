/**
 * Where a report's events come from: the kernel now (LiveSource, optionally
 * recording everything that passes) or a recorded trace (FileSource). Reports
 * see the same interface, so a report made from a recording is the same
 * report the live command printed for those events.
 */
import { CgroupNames, CgroupTable, hostCgroups } from './cgroups';
import { Clock } from './clock';
import { SnapshotFile, SnapshotSocket, TransitionEvent } from './decoder';
import { TcptraceError } from './errors';
import { TracerCounters, TracerOptions } from './native';
import { attachSession, runUntilStopped } from './commands/run';
import { cmdlineOf } from './proc';
import { AF_INET, AF_INET6 } from './states';
import { SessionOptions, Snapshot, TraceSession } from './session';
import { TraceHeader, TraceLine } from './trace/format';
import { readTrace, TraceReadResult } from './trace/reader';
import { TraceLayout, TraceWriter } from './trace/writer';

export interface TimedSnapshot extends Snapshot {
  tsNs: number;
}

export interface SourceHandlers {
  onEvents(events: TransitionEvent[]): void;
  onLost?(newlyLost: number, total: number): void;
  /** After the last event, when finalSnapshot() is available (taken live just before detaching). */
  atEnd?(): void;
}

export interface EventSource {
  readonly clock: Clock;
  readonly start: TimedSnapshot;
  /** Owners' cgroup paths and containers: this host's live, the recording's `cgroup` lines from a file. */
  readonly cgroups: CgroupNames;
  /** Delivers events until the end: --duration, a signal or a stop() live; the file's end. */
  run(handlers: SourceHandlers): Promise<void>;
  /** Sockets and holders now; live only (a recording has only its start and end). */
  snapshotNow(): TimedSnapshot;
  /** The sockets and holders at the end; valid from atEnd on. */
  finalSnapshot(): TimedSnapshot;
  counters(): TracerCounters;
  stop(reason: string): void;
}

export interface RecordTo {
  path: string;
  layout: TraceLayout;
  options: Record<string, unknown>;
}

const NO_COUNTERS: TracerCounters = {
  lostEvents: 0, lostRingBufferFull: 0, lostNested: 0, nestedCaught: 0, inferred: 0, untrackedSockets: 0,
};

export class LiveSource implements EventSource {
  readonly clock = new Clock();
  readonly start: TimedSnapshot;
  readonly cgroups = hostCgroups();
  private final?: TimedSnapshot;
  private stopRun: (reason: string) => void = () => {};
  private readonly writer?: TraceWriter;

  constructor(
    readonly session: TraceSession,
    private readonly run_: { durationSeconds?: number; verbose?: boolean },
    record?: RecordTo,
    private readonly filters: TracerOptions = {},
  ) {
    this.start = this.snapshotNow();
    if (record) {
      this.writer = new TraceWriter(record.path, record.layout, this.cgroups);
      this.writer.header(this.start.tsNs, this.clock.wallOffsetMs, record.options);
      this.writer.snapshot('start', this.start.tsNs, this.start.sockets, this.start.files);
    }
  }

  static open(options: SessionOptions, run: { durationSeconds?: number; verbose?: boolean }, record?: RecordTo): LiveSource {
    return new LiveSource(attachSession(options, run.verbose), run, record, options);
  }

  get recording(): TraceWriter | undefined {
    return this.writer;
  }

  snapshotNow(): TimedSnapshot {
    const { sockets, files } = narrowSnapshot(this.session.snapshot(), this.filters);
    return { sockets, files: withCmdlines(files), tsNs: this.clock.nowNs() };
  }

  finalSnapshot(): TimedSnapshot {
    if (!this.final) throw new Error('finalSnapshot() before the end');
    return this.final;
  }

  counters(): TracerCounters {
    return this.session.counters();
  }

  stop(reason: string): void {
    this.stopRun(reason);
  }

  async run(handlers: SourceHandlers): Promise<void> {
    const writer = this.writer;
    const running = runUntilStopped({
      session: this.session,
      durationSeconds: this.run_.durationSeconds,
      verbose: this.run_.verbose,
      bindStop: (fn) => { this.stopRun = fn; },
      // The iterators need the kernel side attached: take it now, use it
      // once every event read before detaching has been delivered.
      beforeStop: () => { this.final = this.snapshotNow(); },
      handlers: {
        onEvents: (events) => {
          writer?.write(events);
          handlers.onEvents(events);
        },
        onLost: (newlyLost, total) => {
          writer?.lost(newlyLost, total);
          handlers.onLost?.(newlyLost, total);
        },
      },
    });
    // A full disk ends the run at once, even if no event comes to notice it.
    const stopOnWriteError = () => this.stopRun('cannot write the recording');
    if (writer?.error) stopOnWriteError();
    else writer?.onError(stopOnWriteError);
    await running;
    if (this.final) {
      writer?.snapshot('end', this.final.tsNs, this.final.sockets, this.final.files);
      handlers.atEnd?.();
    }
    if (writer) {
      try {
        await writer.finish(this.clock.nowNs(), this.clock.wallOffsetMs, this.counters());
      } catch {
        throw writer.writeError();
      }
      if (writer.error) throw writer.writeError();
    }
  }
}

const BATCH = 4096;

export class FileSource implements EventSource {
  readonly clock: Clock;
  readonly cgroups: CgroupTable;
  private final?: TimedSnapshot;
  private footerCounters?: TracerCounters;
  truncated = false;

  private constructor(
    readonly path: string,
    readonly header: TraceHeader,
    readonly start: TimedSnapshot,
    private readonly lines: AsyncGenerator<TraceLine, TraceReadResult>,
    private pending: TraceLine | undefined,
    cgroups: CgroupTable,
  ) {
    this.clock = new Clock(header.wallOffsetMs);
    this.cgroups = cgroups;
  }

  /** Reads the header and the start snapshot. */
  static async open(path: string): Promise<FileSource> {
    const lines = readTrace(path);
    const first = await lines.next();
    if (first.done || first.value.type !== 'header') throw new TcptraceError(`${path}: not a tcptrace trace (no header)`);
    const start: TimedSnapshot = { sockets: [], files: [], tsNs: first.value.startNs };
    const cgroups = new CgroupTable();
    let next = await lines.next();
    while (!next.done && (isSnapshotLine(next.value, 'start') || next.value.type === 'cgroup')) {
      if (next.value.type === 'cgroup') cgroups.add(next.value.id, next.value.path);
      else addToSnapshot(start, next.value);
      next = await lines.next();
    }
    const source = new FileSource(path, first.value, start, lines, next.done ? undefined : next.value, cgroups);
    if (next.done) source.truncated = next.value?.truncated ?? true;
    return source;
  }

  snapshotNow(): TimedSnapshot {
    throw new TcptraceError(`${this.path}: a recording has no "now": only its start and end snapshots`);
  }

  /** Only whole with the footer after it: a cut-off end snapshot would miss holders. */
  finalSnapshot(): TimedSnapshot {
    if (!this.final || !this.footerCounters) {
      throw new TcptraceError(`${this.path}: the recording was cut off before its end snapshot was complete, which this report needs`);
    }
    return this.final;
  }

  counters(): TracerCounters {
    return this.footerCounters ?? NO_COUNTERS;
  }

  stop(): void {
    // A file ends by itself; a closed output simply stops being written to.
  }

  async run(handlers: SourceHandlers): Promise<void> {
    let batch: TransitionEvent[] = [];
    const flush = () => {
      if (batch.length) handlers.onEvents(batch);
      batch = [];
    };
    for (let line = this.pending; line; line = await this.nextLine()) {
      if (line.type === 'event') {
        const { type, ...event } = line;
        batch.push(event);
        if (batch.length >= BATCH) flush();
        continue;
      }
      flush();
      // After the batch: events before it were reported without its name live, too.
      if (line.type === 'cgroup') this.cgroups.add(line.id, line.path);
      else if (line.type === 'lost') handlers.onLost?.(line.count, line.total);
      else if (isSnapshotLine(line, 'end')) addToSnapshot((this.final ??= { sockets: [], files: [], tsNs: 0 }), line);
      else if (line.type === 'footer') this.footerCounters = line.counters;
    }
    flush();
    if (this.final && this.footerCounters) handlers.atEnd?.();
  }

  private async nextLine(): Promise<TraceLine | undefined> {
    const next = await this.lines.next();
    if (next.done) {
      this.truncated = next.value?.truncated ?? false;
      return undefined;
    }
    return next.value;
  }
}

/**
 * The part of a snapshot a run is about: the sockets that pass its port and
 * family filters (the kernel applies them to transitions), and the holders
 * of those sockets only. The file iterator lists every socket fd of the
 * host, in every namespace: on a busy host 100,000 lines per snapshot that
 * no report reads, in memory, in the tracker and in every recording.
 */
export function narrowSnapshot(snapshot: Snapshot, filters: Pick<TracerOptions, 'ports' | 'family'>): Snapshot {
  const ports = filters.ports ?? [];
  const family = filters.family === AF_INET ? 4 : filters.family === AF_INET6 ? 6 : undefined;
  const sockets = snapshot.sockets.filter((s) => (family === undefined || s.family === family)
    && (ports.length === 0 || ports.includes(s.sport) || ports.includes(s.dport)));
  const kept = new Set(sockets.map((s) => s.skaddr));
  return { sockets, files: snapshot.files.filter((f) => kept.has(f.skaddr)) };
}

/** Each holder's command line, read once per process. */
function withCmdlines(files: SnapshotFile[]): SnapshotFile[] {
  const cmdlines = new Map<number, string>();
  return files.map((f) => {
    if (!cmdlines.has(f.pid)) cmdlines.set(f.pid, cmdlineOf(f.pid, f.comm));
    return { ...f, cmdline: cmdlines.get(f.pid) };
  });
}

function isSnapshotLine(line: TraceLine, phase: 'start' | 'end'): boolean {
  return (line.type === 'snapshot' || line.type === 'socket' || line.type === 'file') && line.phase === phase;
}

function addToSnapshot(snapshot: TimedSnapshot, line: TraceLine): void {
  if (line.type === 'snapshot') snapshot.tsNs = line.tsNs;
  else if (line.type === 'socket') snapshot.sockets.push(strip(line) as SnapshotSocket);
  else if (line.type === 'file') snapshot.files.push(strip(line) as SnapshotFile);
}

function strip(line: { type: string; phase: string }): object {
  const { type, phase, ...rest } = line;
  return rest;
}
