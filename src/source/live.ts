/** The kernel as an event source: a session attached now, optionally recorded to a file as it runs. */
import { hostCgroups } from '../host/cgroups';
import { NetnsDirectory, NetnsHolder, netnsOfPids, ownNetns } from '../host/netns';
import { cmdlineOf } from '../host/proc';
import { Clock } from '../kernel/clock';
import { KernelAggregates, KernelTallies, Snapshot, SnapshotFile, TimedSnapshot } from '../kernel/decoder';
import { TracerCounters } from '../kernel/native';
import { NetnsStateCounts, SessionOptions, TraceSession } from '../kernel/session';
import { CaptureWriter } from '../trace/capture-writer';
import { openRecording, RecordFormat, Recording } from '../trace/recording';
import { attachSession, runUntilStopped } from './run';
import { EventSource, narrowSnapshot, SourceHandlers } from './source';

export interface RecordTo {
  path: string;
  format: RecordFormat;
  options: Record<string, unknown>;
}

/** How a live run goes: how long, what it says on stderr, whether it keeps an end snapshot. */
export interface LiveRun {
  durationSeconds?: number;
  verbose?: boolean;
  /** Take the end snapshot (finalSnapshot) at the stop: the commands that report on it. Default true. */
  endSnapshot?: boolean;
  /** Runs at the stop, while the kernel side is still attached. */
  onStopping?(): void;
  /** The report reads the events (default true); `record` alone does not, so a capture's never reach JavaScript. */
  needsEvents?: boolean;
}

/** One counted network namespace: its sockets per TCP state number now, and what it is called. */
export interface NamespaceCounts extends NetnsStateCounts {
  /** Its `ip netns` name, the pod or container of a process in it (netnsLabel names it from these). */
  holder: NetnsHolder;
  /** tcptrace's own namespace. */
  own: boolean;
}

/** Counting the other namespaces may take at most this share of the time (1/20: 5%): with many, they refresh less often. */
const COUNT_DUTY = 20;

export class LiveSource implements EventSource {
  readonly clock = new Clock();
  readonly start: TimedSnapshot;
  readonly cgroups = hostCgroups();
  private final?: TimedSnapshot;
  private stopRun: (reason: string) => void = () => {};
  private readonly writer?: Recording;
  readonly aggregates?: () => KernelAggregates;
  readonly sendsConnections: boolean;
  readonly ownNetns = ownNetns();
  /** Transitions per owner and per peer, counted by the kernel: set when opened with countTallies. */
  readonly tallies?: () => KernelTallies;
  private readonly netns = new NetnsDirectory();
  /** The namespaces other than tcptrace's own, as last counted, and when (performance.now() ms). */
  private others?: NamespaceCounts[];
  countedAtMs = 0;
  private nextCountMs = 0;

  private constructor(
    readonly session: TraceSession,
    private readonly run_: LiveRun,
    record: RecordTo | undefined,
    private readonly filters: SessionOptions,
  ) {
    if (filters.aggregateOnly) this.aggregates = () => session.aggregates();
    this.sendsConnections = Boolean(filters.emitConnections);
    if (filters.countTallies) this.tallies = () => session.tallies();
    // Existing sockets get their kernel-side storage here, with their ports
    // and holders as owners, so their later transitions carry both.
    this.start = this.snapshotNow();
    if (record) {
      this.writer = openRecording(record.path, record.format, this.cgroups);
      this.writer.header(this.start.tsNs, this.clock.wallOffsetMs, record.options);
      this.writer.snapshot('start', this.start.tsNs, this.start.sockets, this.start.files);
    }
  }

  /** Loads, attaches and takes the start snapshot; nothing stays attached if any of it fails. */
  static open(options: SessionOptions, run: LiveRun, record?: RecordTo): LiveSource {
    const session = attachSession(options, run.verbose);
    try {
      return new LiveSource(session, run, record, options);
    } catch (err) {
      void session.stop(); // never started: detaches and unloads at once
      throw err;
    }
  }

  /** Detaches a source whose run() never started (a failure between open and run). */
  close(): Promise<void> {
    return this.session.stop();
  }

  get recording(): Recording | undefined {
    return this.writer;
  }

  /** Taken now; decoded (and the holders' command lines read) only when a report reads it. */
  snapshotNow(otherNetns?: (inode: number) => boolean): TimedSnapshot {
    const decode = this.session.walk(otherNetns);
    const tsNs = this.clock.nowNs();
    let taken: Snapshot | undefined;
    const read = (): Snapshot => {
      if (!taken) {
        const { sockets, files } = narrowSnapshot(decode(), this.filters);
        taken = { sockets, files: withCmdlines(files) };
      }
      return taken;
    };
    return { tsNs, get sockets() { return read().sockets; }, get files() { return read().files; } };
  }

  finalSnapshot(): TimedSnapshot {
    if (!this.final) throw new Error('finalSnapshot() before the end');
    return this.final;
  }

  counters(): TracerCounters {
    return this.session.counters();
  }

  /**
   * Sockets per state number now in each network namespace counted, as the
   * kernel counts them (after the family and port filters): every namespace of
   * the host, or those of --netns, or those --cgroup's processes are in.
   * tcptrace's own is counted on every call; each other namespace's walk visits
   * the whole host's TCP table too, so the others are counted again only once
   * that fits in COUNT_DUTY (countedAtMs says when they were).
   */
  stateCounts(): NamespaceCounts[] {
    const now = performance.now();
    const wanted = this.countedNetns();
    const others = wanted.filter((n) => n.inode !== this.ownNetns);
    if (now >= this.nextCountMs || !this.others) {
      this.others = this.count(others);
      this.countedAtMs = now;
      this.nextCountMs = now + (performance.now() - now) * COUNT_DUTY;
    }
    const own = this.count(wanted.filter((n) => n.inode === this.ownNetns));
    const stillWanted = new Set(others.map((n) => n.inode));
    return [...own, ...this.others.filter((n) => stillWanted.has(n.netns))];
  }

  private count(namespaces: { inode: number; path: string; holder: NetnsHolder }[]): NamespaceCounts[] {
    const holders = new Map(namespaces.map((n) => [n.inode, n.holder]));
    return this.session.stateCountsIn(namespaces)
      .map((c) => ({ ...c, holder: holders.get(c.netns)!, own: c.netns === this.ownNetns }));
  }

  netnsNames(): (inode: number) => string | null {
    return this.netns.names();
  }

  private countedNetns(): { inode: number; path: string; holder: NetnsHolder }[] {
    const only = this.filters.netns?.length ? new Set(this.filters.netns) : null;
    const cgroup = this.filters.cgroup;
    const inCgroup = cgroup ? netnsOfPids(this.cgroups.pidsIn(cgroup.top)) : null;
    return this.netns.list()
      .filter(({ entry }) => (!only || only.has(entry.inode)) && (!inCgroup || inCgroup.has(entry.inode)))
      .map(({ entry, holder }) => ({ inode: entry.inode, path: entry.path, holder }));
  }

  stop(reason: string): void {
    this.stopRun(reason);
  }

  async run(handlers: SourceHandlers): Promise<void> {
    const writer = this.writer;
    // A capture's records go from the addon's reader thread to the file; JSON is written here.
    const capture = writer instanceof CaptureWriter ? writer.captureTo(this.run_.needsEvents ?? true) : undefined;
    const json = writer instanceof CaptureWriter ? undefined : writer;
    const running = runUntilStopped({
      session: this.session,
      capture,
      durationSeconds: this.run_.durationSeconds,
      verbose: this.run_.verbose,
      bindStop: (fn) => { this.stopRun = fn; },
      // The iterators need the kernel side attached: take it now, use it
      // once every event read before detaching has been delivered.
      beforeStop: () => {
        this.run_.onStopping?.();
        if (this.run_.endSnapshot ?? true) this.final = this.snapshotNow();
      },
      handlers: {
        onEvents: (events) => {
          json?.write(events);
          handlers.onEvents(events);
        },
        onConnections: handlers.onConnections,
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

/** Each holder's command line, read once per process. */
function withCmdlines(files: SnapshotFile[]): SnapshotFile[] {
  const cmdlines = new Map<number, string>();
  return files.map((f) => {
    if (!cmdlines.has(f.pid)) cmdlines.set(f.pid, cmdlineOf(f.pid, f.comm));
    return { ...f, cmdline: cmdlines.get(f.pid) };
  });
}
