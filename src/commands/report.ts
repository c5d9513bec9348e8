/** `tcptrace report FILE [summary|life|hist|culprits]`: the live reports, made from a recording. */
import { usageError } from '../errors';
import { LineOutput } from '../output';
import { FileSource } from '../source';
import { SummaryBuilder, renderSummary } from '../summary';
import { ConnectionTracker } from '../tracker';
import { SplitBy, Unit } from '../latency';
import { selectionOf } from '../format/extra-columns';
import { culpritsReport } from './culprits';
import { histReport } from './hist';
import { lifeReport } from './life';
import { ReportRun } from './run';

export type ReportKind = 'summary' | 'life' | 'hist' | 'culprits';

export interface ReportFlags {
  json?: boolean;
  by?: SplitBy;
  unit?: Unit;
  minAge?: number;
  pid?: number[];
}

/** The flags that mean something only for one report, and which. */
const ONLY_FOR: Record<string, { flag: string; report: ReportKind }> = {
  by: { flag: '--by', report: 'hist' },
  unit: { flag: '--unit', report: 'hist' },
  minAge: { flag: '--min-age', report: 'culprits' },
  pid: { flag: '--pid', report: 'culprits' },
};

/** A flag that this report would ignore is a mistake: say so rather than ignore it. */
export function checkReportFlags(kind: ReportKind, flags: ReportFlags & { html?: boolean; output?: string }): void {
  for (const [key, { flag, report }] of Object.entries(ONLY_FOR)) {
    if (flags[key as keyof ReportFlags] !== undefined && kind !== report) {
      throw usageError(`${flag} is for the ${report} report, not ${kind}`);
    }
  }
  if (flags.html) {
    if (kind !== 'summary') throw usageError(`--html makes one page of every report: leave out "${kind}"`);
    if (flags.json) throw usageError('--html and --json cannot be used together');
    if (!flags.output) throw usageError('--html needs -o <file>');
  } else if (flags.output) {
    throw usageError('-o is for --html (the reports print to stdout)');
  }
}

async function summaryReport(source: FileSource, json: boolean, out: LineOutput): Promise<ReportRun> {
  const builder = new SummaryBuilder();
  const tracker = new ConnectionTracker({ onFinished: (c) => builder.addFinished(c) });
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  let end;
  let lastNs = source.start.tsNs;
  await source.run({
    onEvents: (events) => {
      builder.addEvents(events);
      tracker.apply(events);
      lastNs = events[events.length - 1].tsNs;
    },
    atEnd: () => { end = source.finalSnapshot(); },
  });
  const summary = builder.build(source.start, end, end ? (end as { tsNs: number }).tsNs : lastNs, source.counters(), tracker.dropped);
  out.writeLines(json ? [JSON.stringify(summary)] : renderSummary(summary));
  return { connectionsDropped: tracker.dropped };
}

export async function runReport(file: string, kind: ReportKind, flags: ReportFlags): Promise<void> {
  const source = await FileSource.open(file);
  const out = new LineOutput();
  let run: ReportRun;
  switch (kind) {
    case 'life': run = await lifeReport(source, flags, selectionOf(source.header.options), out); break;
    case 'hist': run = await histReport(source, flags, out); break;
    case 'culprits': run = await culpritsReport(source, flags, out); break;
    default: run = await summaryReport(source, Boolean(flags.json), out);
  }
  if (run.connectionsDropped) {
    process.stderr.write(`tcptrace: ${run.connectionsDropped} connections dropped from the report (too many open at once to follow)\n`);
  }
  if (source.truncated) {
    process.stderr.write(`tcptrace: ${file} was cut off (no footer): the report covers it up to its last whole line\n`);
  }
  await out.flush();
}
