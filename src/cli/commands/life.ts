/** `tcptrace life`: every connection that ends, with its lifetime, bytes and ending. */
import { endpointWidth } from '../../format/event-text';
import { ExtraColumns, Selection } from '../../format/extra-columns';
import { lifeHeader, lifeJson, lifeLine } from '../../format/life';
import { lifeReport } from '../../reports/life';
import { ReportRun } from '../../reports/report-run';
import { EventSource } from '../../source/source';
import { FilterFlags } from '../options';
import { LineOutput } from '../output';
import { RecordFlags, reportLostLine, runLiveReport } from '../run';

export interface LifeFlags extends FilterFlags, RecordFlags {
  json?: boolean;
  duration?: number;
  verbose?: boolean;
}

/** The life report of any source, as lines (text with a header, or JSON). */
export function printLife(
  source: EventSource, flags: { json?: boolean; ipv6Only?: boolean }, selection: Selection, out: LineOutput,
): Promise<ReportRun> {
  const width = endpointWidth(Boolean(flags.ipv6Only));
  const extra = flags.json ? ExtraColumns.none() : ExtraColumns.choose(source.cgroups, source.start.files, selection);
  if (!flags.json) out.writeLines([lifeHeader(width, extra)]);
  return lifeReport(source, {
    onFinished: (connections) => out.writeLines(connections.map((c) => (flags.json
      ? JSON.stringify(lifeJson(c, source.clock, source.cgroups))
      : lifeLine(c, source.clock, width, extra)))),
    onLost: (newlyLost, total) => reportLostLine(out, Boolean(flags.json), newlyLost, total),
  });
}

export async function runLife(flags: LifeFlags): Promise<void> {
  const ipv6Only = Boolean(flags.ipv6 && !flags.ipv4);
  await runLiveReport(flags, { command: 'life' }, (source, out) => printLife(source, { json: flags.json, ipv6Only }, flags, out));
}
