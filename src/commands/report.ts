/** `tcptrace report FILE [summary|life|hist|culprits]`: the live reports, made from a recording. */
import { LineOutput } from '../output';
import { FileSource } from '../source';
import { SummaryBuilder, renderSummary } from '../summary';
import { ConnectionTracker } from '../tracker';
import { SplitBy, Unit } from '../latency';
import { selectionOf } from '../format/extra-columns';
import { culpritsReport } from './culprits';
import { histReport } from './hist';
import { lifeReport } from './life';

export type ReportKind = 'summary' | 'life' | 'hist' | 'culprits';

export interface ReportFlags {
  json?: boolean;
  by?: SplitBy;
  unit?: Unit;
  minAge?: number;
  pid?: number[];
}

async function summaryReport(source: FileSource, json: boolean, out: LineOutput): Promise<void> {
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
  const summary = builder.build(source.start, end, end ? (end as { tsNs: number }).tsNs : lastNs, source.counters());
  out.writeLines(json ? [JSON.stringify(summary)] : renderSummary(summary));
}

export async function runReport(file: string, kind: ReportKind, flags: ReportFlags): Promise<void> {
  const source = await FileSource.open(file);
  const out = new LineOutput();
  switch (kind) {
    case 'life': await lifeReport(source, flags, selectionOf(source.header.options), out); break;
    case 'hist': await histReport(source, flags, out); break;
    case 'culprits': await culpritsReport(source, flags, out); break;
    default: await summaryReport(source, Boolean(flags.json), out);
  }
  if (source.truncated) {
    process.stderr.write(`tcptrace: ${file} was cut off (no footer): the report covers it up to its last whole line\n`);
  }
  await out.flush();
}
