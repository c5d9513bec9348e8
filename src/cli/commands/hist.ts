/** `tcptrace hist`: connect, accept-queue, lifetime, CLOSE_WAIT and FIN_WAIT2 distributions. */
import { NS_PER, SplitBy, Unit } from '../../model/latency';
import { FilterFlags } from '../options';
import { printHist } from '../print';
import { RecordFlags, runLiveReport } from '../run';

export interface HistFlags extends FilterFlags, RecordFlags {
  json?: boolean;
  duration?: number;
  interval?: number;
  by?: SplitBy;
  unit?: Unit;
  verbose?: boolean;
}

export async function runHist(flags: HistFlags): Promise<void> {
  // Without --by the kernel's own histograms are the report: it sends no events,
  // and needs no owners. --cgroup picks events by their owner's cgroup: it needs both.
  const kernelOnly = !flags.by && !flags.cgroup;
  const needs = {
    command: 'hist', emitAccepts: true, aggregateOnly: kernelOnly, ownersUnneeded: kernelOnly, resetsUnneeded: true,
    measureUnitNs: NS_PER[flags.unit ?? 'us'],
  };
  await runLiveReport(flags, needs, (source, out) => {
    if (!flags.json && process.stderr.isTTY) process.stderr.write('Tracing TCP connections... Hit Ctrl-C to end.\n');
    return printHist(source, flags, out);
  });
}
