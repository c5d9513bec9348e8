/** `tcptrace culprits`: per process, the sockets it holds in CLOSE_WAIT, and why. */
import { usageError } from '../../errors';
import { renderCulprits } from '../../format/culprits';
import { CulpritReport } from '../../model/culprits';
import { culpritsReport } from '../../reports/culprits';
import { ReportRun } from '../../reports/report-run';
import { EventSource } from '../../source/source';
import { LineOutput } from '../output';
import { RecordFlags, runLiveReport } from '../run';

export interface CulpritsFlags extends RecordFlags {
  duration?: number;
  watch?: boolean;
  interval?: number;
  minAge?: number;
  pid?: number[];
  /** Only holders in this cgroup (see options.ts parseCgroup). */
  cgroup?: string;
  json?: boolean;
  verbose?: boolean;
  ringBuffer?: number;
}

const DEFAULT_OBSERVATION_S = 5;
const DEFAULT_WATCH_INTERVAL_S = 2;

/** The culprits of any source, printed at its end (and every --interval with --watch). */
export async function printCulprits(
  source: EventSource, flags: Pick<CulpritsFlags, 'minAge' | 'pid' | 'watch' | 'interval' | 'json'>, out: LineOutput,
): Promise<ReportRun> {
  const redraw = Boolean(flags.watch && process.stdout.isTTY && !flags.json);
  const print = (r: CulpritReport) => {
    if (flags.json) out.writeLines([JSON.stringify(r)]);
    else if (redraw) out.redraw(renderCulprits(r).join('\n'));
    else out.writeLines(renderCulprits(r));
  };
  const watchSeconds = flags.watch ? flags.interval ?? DEFAULT_WATCH_INTERVAL_S : undefined;
  const run = await culpritsReport(source, { minAge: flags.minAge, pid: flags.pid, watchSeconds }, print);
  print(run.report);
  return run;
}

export async function runCulprits(flags: CulpritsFlags): Promise<void> {
  if (flags.interval !== undefined && !flags.watch) {
    throw usageError('--interval is for --watch (without it culprits reports once, after --duration)');
  }
  const duration = flags.duration ?? (flags.watch ? undefined : DEFAULT_OBSERVATION_S);
  await runLiveReport({ ...flags, duration }, { command: 'culprits', emitAccepts: true }, (source, out) => printCulprits(source, flags, out));
}
