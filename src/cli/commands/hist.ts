/** `tcptrace hist`: connect, accept-queue, lifetime, CLOSE_WAIT and FIN_WAIT2 distributions. */
import { renderLatencySet } from '../../format/latency';
import { LatencySet, SplitBy, Unit } from '../../model/latency';
import { histReport } from '../../reports/hist';
import { ReportRun } from '../../reports/report-run';
import { EventSource } from '../../source/source';
import { FilterFlags } from '../options';
import { LineOutput } from '../output';
import { RecordFlags, reportLostLine, runLiveReport } from '../run';

export interface HistFlags extends FilterFlags, RecordFlags {
  json?: boolean;
  duration?: number;
  interval?: number;
  by?: SplitBy;
  unit?: Unit;
  verbose?: boolean;
}

/** The distributions of any source, printed at its end (and every --interval live). */
export async function printHist(
  source: EventSource, flags: Pick<HistFlags, 'json' | 'by' | 'unit' | 'interval'>, out: LineOutput,
): Promise<ReportRun> {
  const print = (latencies: LatencySet, nowNs: number) => {
    if (flags.json) {
      out.writeLines([JSON.stringify({ ts: source.clock.wallMs(nowNs), unit: latencies.unit, histograms: latencies.toJson() })]);
    } else {
      out.writeLines([...(flags.interval ? [source.clock.timeOfDay(nowNs).slice(0, 8)] : []), ...renderLatencySet(latencies), '']);
    }
  };
  const run = await histReport(source, { by: flags.by, unit: flags.unit, intervalSeconds: flags.interval }, {
    onInterval: print,
    onLost: (newlyLost, total) => reportLostLine(out, false, newlyLost, total),
  });
  print(run.latencies, run.endNs);
  return run;
}

export async function runHist(flags: HistFlags): Promise<void> {
  await runLiveReport(flags, { command: 'hist', emitAccepts: true }, (source, out) => {
    if (!flags.json && process.stderr.isTTY) process.stderr.write('Tracing TCP connections... Hit Ctrl-C to end.\n');
    return printHist(source, flags, out);
  });
}
