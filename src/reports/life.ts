/** `life`: every connection that ends, with its lifetime, bytes and ending, handed on batch by batch. */
import { ConnectionTracker, FinishedConnection, finishKernelConnection, snapshotRoles } from '../model/tracker';
import { EventSource } from '../source/source';
import { OnLost, ReportRun } from './report-run';

export interface LifeSink {
  /** The connections that ended in one batch of events, in the order they ended. */
  onFinished(connections: FinishedConnection[]): void;
  onLost?: OnLost;
}

export async function lifeReport(source: EventSource, sink: LifeSink): Promise<ReportRun> {
  if (source.sendsConnections) return kernelLifeReport(source, sink);
  const finished: FinishedConnection[] = [];
  const tracker = new ConnectionTracker({ onFinished: (c) => finished.push(c) });
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  await source.run({
    onEvents: (events) => {
      tracker.apply(events);
      if (finished.length) sink.onFinished(finished.splice(0));
    },
    onLost: sink.onLost,
  });
  return { connectionsDropped: tracker.dropped };
}

/** The kernel followed each connection and sent it whole at its end: no tracker, no cap. */
async function kernelLifeReport(source: EventSource, sink: LifeSink): Promise<ReportRun> {
  let roles: Map<number, 'client' | 'server'> | undefined;
  await source.run({
    onEvents: () => {},
    onConnections: (connections) => {
      // Only a connection that predates the trace needs the start snapshot: decode it then.
      const roleOf = (sockId: number) => (roles ??= snapshotRoles(source.start.sockets)).get(sockId);
      sink.onFinished(connections.map((k) => finishKernelConnection(k, k.born ? undefined : roleOf(k.last.sockId))));
    },
    onLost: sink.onLost,
  });
  return { connectionsDropped: 0 };
}
