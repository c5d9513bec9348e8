/** `life`: every connection that ends, with its lifetime, bytes and ending, handed on batch by batch. */
import { ConnectionTracker, FinishedConnection } from '../model/tracker';
import { EventSource } from '../source/source';
import { OnLost, ReportRun } from './report-run';

export interface LifeSink {
  /** The connections that ended in one batch of events, in the order they ended. */
  onFinished(connections: FinishedConnection[]): void;
  onLost?: OnLost;
}

export async function lifeReport(source: EventSource, sink: LifeSink): Promise<ReportRun> {
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
