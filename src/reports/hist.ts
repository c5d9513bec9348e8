/** `hist`: connect, accept-queue, lifetime, CLOSE_WAIT and FIN_WAIT2 distributions of a whole source. */
import { aggregatesSince, KernelAggregates, SnapshotSocket } from '../kernel/decoder';
import { LatencySet, SplitBy, Unit } from '../model/latency';
import { keptByKernel, Since, StillInState, stillInState } from '../model/still-in-state';
import { Connection, ConnectionTracker, MeasureKind } from '../model/tracker';
import { EventSource } from '../source/source';
import { OnLost, ReportRun } from './report-run';

export interface HistOptions {
  by?: SplitBy;
  unit?: Unit;
  /** Hand the distributions on every this many seconds, then start them afresh. */
  intervalSeconds?: number;
}

export interface HistSink {
  onInterval?(latencies: LatencySet, nowNs: number): void;
  onLost?: OnLost;
}

export interface HistReport extends ReportRun {
  latencies: LatencySet;
  /** What is still waiting at the end, per measure: not in the histograms (none without an end snapshot). */
  stillInState?: StillInState[];
  /** The last event's time, or the end snapshot's where there is one. */
  endNs: number;
}

export async function histReport(source: EventSource, options: HistOptions, sink: HistSink = {}): Promise<HistReport> {
  const latencies = new LatencySet(options.unit ?? 'us', options.by);
  // Without a key the kernel may have counted them itself: then no events come to follow.
  const takeKernelCounts = source.aggregates && !options.by ? kernelCountsInto(latencies, source.aggregates) : undefined;
  const tracker = new ConnectionTracker({ onMeasure: (kind, ns, conn) => latencies.add(kind, ns, conn) });
  if (!takeKernelCounts) tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  let endNs: number | undefined;
  let stillIn: StillInState[] | undefined;
  const timer = options.intervalSeconds
    ? setInterval(() => {
      takeKernelCounts?.();
      sink.onInterval?.(latencies, source.clock.nowNs());
      latencies.reset();
    }, options.intervalSeconds * 1000)
    : undefined;
  try {
    await source.run({
      onEvents: (events) => {
        tracker.apply(events);
        endNs = events[events.length - 1].tsNs;
      },
      onLost: sink.onLost,
      atEnd: () => {
        const end = source.finalSnapshot();
        endNs = end.tsNs;
        stillIn = stillInState(source.start, end, takeKernelCounts ? keptByKernel : followedBy(tracker));
      },
    });
  } finally {
    if (timer) clearInterval(timer);
  }
  takeKernelCounts?.(); // the final counts, kept by the kernel side at its detach
  endNs ??= takeKernelCounts ? source.clock.nowNs() : source.start.tsNs;
  return { latencies, endNs, stillInState: stillIn, connectionsDropped: tracker.dropped };
}

/** From events: the tracker knows when each connection it follows was born and entered its state. */
function followedBy(tracker: ConnectionTracker): (s: SnapshotSocket, kind: MeasureKind) => Since | null {
  let bySockId: Map<number, Connection> | undefined;
  return (s, kind) => {
    bySockId ??= new Map([...tracker.connections()].map((c) => [c.sockId, c]));
    const conn = bySockId.get(s.sockId);
    if (!conn) return null;
    if (kind === 'lifetime') return { ns: conn.startNs, lowerBound: conn.preexisting };
    return conn.state === s.state && conn.stateSinceNs !== null ? { ns: conn.stateSinceNs, lowerBound: false } : null;
  };
}

/** Adds to `latencies`, at each call, what the kernel has counted since the last one. */
function kernelCountsInto(latencies: LatencySet, read: () => KernelAggregates): () => void {
  let taken: KernelAggregates | undefined;
  return () => {
    const now = read();
    latencies.addAggregates(taken ? aggregatesSince(now, taken) : now);
    taken = now;
  };
}
