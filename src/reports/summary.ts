/** `report summary`: what happened in a trace, in counts. */
import { Summary, SummaryBuilder } from '../model/summary';
import { ConnectionTracker } from '../model/tracker';
import { TimedSnapshot } from '../kernel/decoder';
import { EventSource } from '../source/source';
import { ReportRun } from './report-run';

export async function summaryReport(source: EventSource): Promise<ReportRun & { summary: Summary }> {
  const builder = new SummaryBuilder();
  const tracker = new ConnectionTracker({ onFinished: (c) => builder.addFinished(c) });
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  let end: TimedSnapshot | undefined;
  let lastNs = source.start.tsNs;
  await source.run({
    onEvents: (events) => {
      builder.addEvents(events);
      tracker.apply(events);
      lastNs = events[events.length - 1].tsNs;
    },
    atEnd: () => { end = source.finalSnapshot(); },
  });
  const summary = builder.build(source.start, end, end?.tsNs ?? lastNs, source.counters(), tracker.dropped);
  return { summary, connectionsDropped: tracker.dropped };
}
