/** `tcptrace hist`: connect, accept-queue, lifetime, CLOSE_WAIT and FIN_WAIT2 distributions. */
import { Clock } from '../clock';
import { renderLatencySet } from '../format/latency';
import { LatencySet, SplitBy, Unit } from '../latency';
import { FilterFlags, tracerOptions } from '../options';
import { LineOutput } from '../output';
import { TraceSession } from '../session';
import { ConnectionTracker } from '../tracker';
import { printCounters, reportLostLine, runUntilStopped } from './run';

export interface HistFlags extends FilterFlags {
  json?: boolean;
  duration?: number;
  interval?: number;
  by?: SplitBy;
  unit?: Unit;
  verbose?: boolean;
}

export async function runHist(flags: HistFlags): Promise<void> {
  const session = TraceSession.open({ ...tracerOptions(flags), emitAccepts: true });
  const clock = new Clock();
  const latencies = new LatencySet(flags.unit ?? 'us', flags.by);
  const tracker = new ConnectionTracker({ onMeasure: (kind, ns, conn) => latencies.add(kind, ns, conn) });
  tracker.loadSnapshot(session.snapshot().sockets, clock.nowNs());
  let stop = (reason: string) => {};
  const out = new LineOutput(process.stdout, () => stop('output closed'));

  const print = () => {
    const now = clock.nowNs();
    if (flags.json) {
      out.writeLines([JSON.stringify({ ts: clock.wallMs(now), unit: latencies.unit, histograms: latencies.toJson() })]);
    } else {
      out.writeLines([...(flags.interval ? [clock.timeOfDay(now).slice(0, 8)] : []), ...renderLatencySet(latencies), '']);
    }
  };
  const timer = flags.interval ? setInterval(() => { print(); latencies.reset(); }, flags.interval * 1000) : undefined;
  if (!flags.json && process.stderr.isTTY) process.stderr.write('Tracing TCP connections... Hit Ctrl-C to end.\n');

  await runUntilStopped({
    session,
    durationSeconds: flags.duration,
    verbose: flags.verbose,
    bindStop: (fn) => { stop = fn; },
    handlers: {
      onEvents: (events) => tracker.apply(events),
      onLost: (newlyLost, total) => reportLostLine(out, false, newlyLost, total),
    },
  });
  if (timer) clearInterval(timer);
  print();
  printCounters(session, Boolean(flags.verbose));
  await out.flush();
}
