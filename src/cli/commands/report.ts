/** `tcptrace report FILE [summary|life|hist|culprits]`: the live reports, made from a recording. */
import { usageError } from '../../errors';
import { selectionOf } from '../../format/extra-columns';
import { SplitBy, Unit } from '../../model/latency';
import { ReportRun } from '../../reports/report-run';
import { FileSource } from '../../source/file';
import { LineOutput } from '../output';
import { printCulprits, printHist, printLife, printSummary } from '../print';
import { CulpritSelectionFlags } from './culprits';

export type ReportKind = 'summary' | 'life' | 'hist' | 'culprits';

export interface ReportFlags extends CulpritSelectionFlags {
  by?: SplitBy;
  unit?: Unit;
  /** Every report: only these network namespaces, and (cgroup) only owners in this cgroup, as live. */
  netns?: number[];
}

/** The flags that mean something only for one report, and which. */
const ONLY_FOR: Record<string, { flag: string; report: ReportKind }> = {
  by: { flag: '--by', report: 'hist' },
  unit: { flag: '--unit', report: 'hist' },
  minAge: { flag: '--min-age', report: 'culprits' },
  pid: { flag: '--pid', report: 'culprits' },
  top: { flag: '--top', report: 'culprits' },
  port: { flag: '--port', report: 'culprits' },
  comm: { flag: '--comm', report: 'culprits' },
  sort: { flag: '--sort', report: 'culprits' },
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

export async function runReport(file: string, kind: ReportKind, flags: ReportFlags): Promise<void> {
  const source = await FileSource.open(file, { netns: flags.netns, cgroup: flags.cgroup });
  const out = new LineOutput();
  let run: ReportRun;
  switch (kind) {
    case 'life': run = await printLife(source, flags, selectionOf(source.header.options), out); break;
    case 'hist': run = await printHist(source, flags, out); break;
    case 'culprits': run = await printCulprits(source, flags, out); break;
    default: run = await printSummary(source, Boolean(flags.json), out);
  }
  if (run.connectionsDropped) {
    process.stderr.write(`tcptrace: ${run.connectionsDropped} connections dropped from the report (too many open at once to follow)\n`);
  }
  if (source.truncated) {
    process.stderr.write(`tcptrace: ${file} was cut off (no footer): the report covers it up to its last whole line (or block, in a capture)\n`);
  }
  await out.flush();
}
