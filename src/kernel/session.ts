/**
 * One tracing session: the kernel side attached, its start-up snapshot, and
 * decoded transitions delivered in batches until stop(). Every command that
 * watches the kernel goes through here; none touches the addon directly.
 */
import {
  CONNECTION_LAYOUT, decodeAggregates, decodeConnections, decodeTallies, DEFAULT_RING_BYTES, decodeEvents, KernelAggregates,
  KernelConnection, KernelTallies, decodeSnapshotFiles, decodeSnapshotSockets, decodeCountedStates, EVENT_LAYOUT, joinSockIds, recordsOwnedBy,
  ListenerNow, Snapshot, TransitionEvent, useResetReasonNames,
} from './decoder';
import type { CgroupFilter } from './cgroup-filter';
import { loadNative, NativeCapture, NativeTracer, TracerCounters, TracerOptions } from './native';
import { assumedMissing, limitsOf } from './features';
import { preflight } from './preflight';
import { listNetns, ownNetns } from '../host/netns';

/** How often lost events are looked for when no batch comes to JavaScript (a capture alone). */
const LOST_CHECK_MS = 1000;
/** Records decoded and handed on at a time (see start()). */
const SLICE_RECORDS = 1024;

export interface SessionHandlers {
  onEvents(events: TransitionEvent[]): void;
  /** A session opened with emitConnections sends these instead of events. */
  onConnections?(connections: KernelConnection[]): void;
  /** Events the kernel could not hand over (ring buffer full), as they are counted. */
  onLost?(newlyLost: number, totalLost: number): void;
}

/** Where the records go besides JavaScript: a binary capture, written by the addon's reader thread. */
export interface CaptureTo {
  file: NativeCapture;
  /** Hand the events to onEvents too (a report that also records); `record` alone needs none. */
  deliver: boolean;
}

export interface SessionOptions extends TracerOptions {
  /** Longest wait before a waiting batch is read, in ms. */
  pollMs?: number;
  /** --cgroup: applied here, to every batch and snapshot, so every command gets it. */
  cgroup?: CgroupFilter;
  /** Snapshots walk every network namespace of the host, not only tcptrace's own. */
  everyNetns?: boolean;
}

/** One network namespace's sockets per state number (TCP state numbers index it), and its listeners. */
export interface NetnsStateCounts {
  netns: number;
  counts: number[];
  listeners: ListenerNow[];
}

export class TraceSession {
  private readonly tracer: NativeTracer;
  private readonly pollMs: number;
  private readonly cgroup?: CgroupFilter;
  /** What the ring buffer carries: transitions, or (emitConnections) finished connections. */
  private readonly connections: boolean;
  private readonly everyNetns: boolean;
  private readonly ownNetns = ownNetns();
  private lostSeen = 0;
  private stopped?: Promise<void>;
  private finishStop?: () => void;
  /** What the session did on its way up (said with -v). */
  readonly notes: string[] = [];
  /** What this kernel cannot do for tcptrace (always said). */
  readonly limits: string[] = [];

  private constructor(tracer: NativeTracer, pollMs: number, connections: boolean, everyNetns: boolean, cgroup?: CgroupFilter) {
    this.tracer = tracer;
    this.pollMs = pollMs;
    this.connections = connections;
    this.everyNetns = everyNetns;
    this.cgroup = cgroup;
  }

  /** Checks the host, loads and attaches (onLoading runs between the two). Throws TcptraceError on any failure. */
  static open(options: SessionOptions = {}, onLoading: () => void = () => {}): TraceSession {
    const { tracefsMounted } = preflight(!options.iteratorsOnly);
    onLoading(); // the host passed every check: from here on the kernel loads
    const addon = loadNative();
    const { cgroup, pollMs, everyNetns, ...kernel } = options;
    const ringBufferBytes = kernel.ringBufferBytes ?? DEFAULT_RING_BYTES;
    const assumeMissing = assumedMissing();
    const tracer = new addon.Tracer({
      wakeupBytes: Math.floor(ringBufferBytes / 4),
      assumeMissing,
      ...kernel,
      ringBufferBytes,
    });
    useResetReasonNames(tracer.resetReasonNames());
    const session = new TraceSession(tracer, pollMs ?? 100, Boolean(kernel.emitConnections), Boolean(everyNetns), cgroup);
    if (tracefsMounted) session.notes.push('mounted tracefs at /sys/kernel/tracing');
    session.limits.push(...limitsOf(tracer.skippedPrograms(), assumeMissing));
    return session;
  }

  /**
   * One snapshot with only the iterators loaded (nothing attached to the TCP
   * path), and nothing left loaded after it, whatever happens.
   */
  static snapshotOnce(options: SessionOptions = {}): Snapshot {
    const session = TraceSession.open({ ...options, iteratorsOnly: true });
    try {
      return session.snapshot();
    } finally {
      void session.stop(); // never started: detaches and unloads at once
    }
  }

  /** Every TCP socket of this network namespace now, and who holds each
   *  (with --cgroup, the holders in the cgroup and their sockets). */
  snapshot(): Snapshot {
    return this.walk()();
  }

  /**
   * Both walks now (they also give sockets that predate the trace their ids
   * and owners in the kernel); decoding them waits for the returned function.
   * A host may hold 100,000 sockets that a report never reads. `otherNetns`
   * narrows which other namespaces are walked (everyNetns): each walk visits
   * the whole host's table.
   */
  walk(otherNetns: (inode: number) => boolean = () => true): () => Snapshot {
    // Files first: the socket walks take their holders as the owners of sockets that predate the trace.
    this.tracer.holdersOfEveryNetns(this.everyNetns);
    const fileRecords = this.tracer.runIterator('snapshot_files');
    const socketRecords = [this.tracer.runIterator('snapshot_socks'), ...this.otherNetnsSockets(otherNetns)];
    return () => {
      const files = decodeSnapshotFiles(fileRecords);
      const sockets = socketRecords.flatMap(decodeSnapshotSockets);
      joinSockIds(files, sockets);
      return this.cgroup ? this.cgroup.snapshot({ sockets, files }) : { sockets, files };
    };
  }

  /** The socket walk of every other namespace (everyNetns); one that is gone by then has none. */
  private otherNetnsSockets(wanted: (inode: number) => boolean): Buffer[] {
    if (!this.everyNetns) return [];
    return listNetns().filter((n) => n.inode !== this.ownNetns && wanted(n.inode)).flatMap((n) => {
      try {
        return [this.tracer.runIterator('snapshot_socks', n.path)];
      } catch {
        return []; // its last process exited since the listing
      }
    });
  }

  /**
   * Sockets per state number right now, and the listeners, after the family
   * and port filters, in each of these namespaces (entered by a file such as
   * /proc/PID/ns/net; tcptrace's own is counted where it runs). One whose last
   * process exited since it was listed is left out.
   */
  stateCountsIn(namespaces: { inode: number; path: string }[]): NetnsStateCounts[] {
    return namespaces.flatMap(({ inode, path }) => {
      if (inode === this.ownNetns) return [this.ownStateCounts()];
      try {
        return [{ netns: inode, ...decodeCountedStates(this.tracer.runIterator('count_states', path)) }];
      } catch {
        return []; // its last process exited since the listing
      }
    });
  }

  /** The same in tcptrace's own namespace. */
  ownStateCounts(): NetnsStateCounts {
    return { netns: this.ownNetns ?? 0, ...decodeCountedStates(this.tracer.runIterator('count_states')) };
  }

  counters(): TracerCounters {
    return this.tracer.counters();
  }

  /** What the kernel has counted since loading (the final values once stopped). */
  aggregates(): KernelAggregates {
    return decodeAggregates(this.tracer.aggregates());
  }

  /** Transitions per owner and per peer since loading (opened with countTallies). */
  tallies(): KernelTallies {
    return decodeTallies(this.tracer.processTallies(), this.tracer.peerTallies());
  }

  start(handlers: SessionHandlers, capture?: CaptureTo): void {
    this.stopped = new Promise((resolve) => { this.finishStop = resolve; });
    // --cgroup picks events by their owner's cgroup, which only JavaScript
    // knows: then the records are filtered here and appended from here.
    const filtered = capture && this.cgroup ? capture.file : undefined;
    // No batch comes to JavaScript to notice lost events by: look every second.
    const lostTimer = capture && !capture.deliver && !filtered
      ? setInterval(() => this.reportLost(handlers), LOST_CHECK_MS).unref() : undefined;
    this.tracer.start(
      (lent) => {
        const batch = Buffer.from(lent.buffer, lent.byteOffset, lent.byteLength); // a view: no copy
        if (filtered) {
          filtered.appendEvents(recordsOwnedBy(batch, (cgroupId, pid) => this.cgroup!.keepsOwner(cgroupId, pid)));
          if (!capture!.deliver) return this.reportLost(handlers);
        }
        // A batch can hold 60,000 records. Decoded all at once, their objects
        // outlive the young generation and every batch ends in a full
        // collection (half the CPU of live --json); in slices they die young.
        const sliceBytes = SLICE_RECORDS * (this.connections ? CONNECTION_LAYOUT.size : EVENT_LAYOUT.size);
        for (let at = 0; at < batch.length; at += sliceBytes) {
          const slice = batch.subarray(at, at + sliceBytes);
          if (this.connections) this.deliverConnections(slice, handlers);
          else this.deliver(slice, handlers);
        }
        this.reportLost(handlers);
      },
      () => {
        clearInterval(lostTimer);
        this.reportLost(handlers);
        this.finishStop?.();
      },
      this.pollMs,
      filtered ? undefined : capture?.file,
      filtered ? true : capture?.deliver ?? true,
    );
  }

  /** Detaches at once; resolves when every event read before that is delivered. */
  stop(): Promise<void> {
    this.tracer.stop();
    return this.stopped ?? Promise.resolve();
  }

  private deliver(records: Buffer, handlers: SessionHandlers): void {
    const decoded = decodeEvents(records);
    const events = this.cgroup ? decoded.filter((e) => this.cgroup!.keepsEvent(e)) : decoded;
    // Handlers may take a batch's last event: never hand them an empty one.
    if (events.length) handlers.onEvents(events);
  }

  private deliverConnections(records: Buffer, handlers: SessionHandlers): void {
    const decoded = decodeConnections(records);
    const connections = this.cgroup ? decoded.filter((c) => this.cgroup!.keepsEvent(c.last)) : decoded;
    if (connections.length) handlers.onConnections?.(connections);
  }

  private reportLost(handlers: SessionHandlers): void {
    const { lostEvents } = this.tracer.counters();
    if (lostEvents > this.lostSeen) {
      handlers.onLost?.(lostEvents - this.lostSeen, lostEvents);
      this.lostSeen = lostEvents;
    }
  }
}
