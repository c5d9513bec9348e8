/** `tcptrace culprits`: per process, the sockets it holds in CLOSE_WAIT, and why. */
import { buildCulpritReport, CloseWaitLog, CulpritReport } from '../culprits';
import { renderCulprits } from '../format/culprits';
import { usageError } from '../errors';
import { cmdlineOf } from '../proc';
import { LineOutput } from '../output';
import { EventSource, TimedSnapshot } from '../source';
import { ConnectionTracker } from '../tracker';
import { finishCommand, openLiveSource, RecordFlags, ReportRun } from './run';

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

/** Follows the source to its end; returns the report on the sockets and holders there. */
export async function culpritsReport(
  source: EventSource,
  flags: Pick<CulpritsFlags, 'minAge' | 'pid' | 'watch' | 'interval' | 'json'>,
  out: LineOutput,
): Promise<ReportRun & { report: CulpritReport }> {
  const log = new CloseWaitLog();
  const tracker = new ConnectionTracker();
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  const report = (snapshot: TimedSnapshot): CulpritReport => buildCulpritReport({
    snapshot, log, tracker, nowNs: snapshot.tsNs, startedNs: source.start.tsNs,
    minAgeMs: (flags.minAge ?? 0) * 1000, pids: flags.pid, cmdlineOf, cgroups: source.cgroups,
  });
  const redraw = Boolean(flags.watch && process.stdout.isTTY && !flags.json);
  const print = (r: CulpritReport) => {
    if (flags.json) out.writeLines([JSON.stringify(r)]);
    else if (redraw) out.redraw(renderCulprits(r).join('\n'));
    else out.writeLines(renderCulprits(r));
  };
  const timer = flags.watch ? setInterval(() => print(report(source.snapshotNow())), (flags.interval ?? 2) * 1000) : undefined;
  let last: CulpritReport | undefined;
  await source.run({
    onEvents: (events) => {
      tracker.apply(events);
      log.apply(events);
    },
    atEnd: () => { last = report(source.finalSnapshot()); },
  });
  if (timer) clearInterval(timer);
  // No end snapshot (a recording cut off): finalSnapshot() says so.
  last ??= report(source.finalSnapshot());
  print(last);
  return { report: last, connectionsDropped: tracker.dropped };
}

export async function runCulprits(flags: CulpritsFlags): Promise<void> {
  if (flags.interval !== undefined && !flags.watch) {
    throw usageError('--interval is for --watch (without it culprits reports once, after --duration)');
  }
  const duration = flags.duration ?? (flags.watch ? undefined : DEFAULT_OBSERVATION_S);
  const source = openLiveSource({ ...flags, duration }, 'culprits', true);
  const out = new LineOutput(process.stdout, () => source.stop('output closed'));
  const run = await culpritsReport(source, flags, out);
  await finishCommand(source, out, flags.verbose, run.connectionsDropped);
}
