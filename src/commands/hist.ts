/** `tcptrace hist`: connect, accept-queue, lifetime, CLOSE_WAIT and FIN_WAIT2 distributions. */
import { renderLatencySet } from '../format/latency';
import { LatencySet, SplitBy, Unit } from '../latency';
import { FilterFlags } from '../options';
import { LineOutput } from '../output';
import { EventSource } from '../source';
import { ConnectionTracker } from '../tracker';
import { finishCommand, openLiveSource, RecordFlags, ReportRun, reportLostLine } from './run';

export interface HistFlags extends FilterFlags, RecordFlags {
  json?: boolean;
  duration?: number;
  interval?: number;
  by?: SplitBy;
  unit?: Unit;
  verbose?: boolean;
}

/** The distributions of a whole source, printed at its end (and every --interval live). */
export async function histReport(
  source: EventSource, flags: Pick<HistFlags, 'json' | 'by' | 'unit' | 'interval'>, out: LineOutput,
): Promise<ReportRun & { latencies: LatencySet }> {
  const latencies = new LatencySet(flags.unit ?? 'us', flags.by);
  const tracker = new ConnectionTracker({ onMeasure: (kind, ns, conn) => latencies.add(kind, ns, conn) });
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  let lastNs = source.start.tsNs;

  const print = (nowNs: number) => {
    if (flags.json) {
      out.writeLines([JSON.stringify({ ts: source.clock.wallMs(nowNs), unit: latencies.unit, histograms: latencies.toJson() })]);
    } else {
      out.writeLines([...(flags.interval ? [source.clock.timeOfDay(nowNs).slice(0, 8)] : []), ...renderLatencySet(latencies), '']);
    }
  };
  const timer = flags.interval
    ? setInterval(() => { print(source.clock.nowNs()); latencies.reset(); }, flags.interval * 1000)
    : undefined;
  await source.run({
    onEvents: (events) => {
      tracker.apply(events);
      lastNs = events[events.length - 1].tsNs;
    },
    onLost: (newlyLost, total) => reportLostLine(out, false, newlyLost, total),
    atEnd: () => { lastNs = source.finalSnapshot().tsNs; },
  });
  if (timer) clearInterval(timer);
  print(lastNs);
  return { latencies, connectionsDropped: tracker.dropped };
}

export async function runHist(flags: HistFlags): Promise<void> {
  const source = openLiveSource(flags, 'hist', true);
  const out = new LineOutput(process.stdout, () => source.stop('output closed'));
  if (!flags.json && process.stderr.isTTY) process.stderr.write('Tracing TCP connections... Hit Ctrl-C to end.\n');
  const run = await histReport(source, flags, out);
  await finishCommand(source, out, flags.verbose, run.connectionsDropped);
}
