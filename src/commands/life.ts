/** `tcptrace life`: every connection that ends, with its lifetime, bytes and ending. */
import { endpointWidth } from '../format/event-text';
import { ExtraColumns, Selection } from '../format/extra-columns';
import { lifeHeader, lifeJson, lifeLine } from '../format/life';
import { FilterFlags } from '../options';
import { LineOutput } from '../output';
import { EventSource } from '../source';
import { ConnectionTracker } from '../tracker';
import { openLiveSource, RecordFlags, finishCommand, ReportRun, reportLostLine } from './run';

export interface LifeFlags extends FilterFlags, RecordFlags {
  json?: boolean;
  duration?: number;
  verbose?: boolean;
}

export async function lifeReport(
  source: EventSource, flags: { json?: boolean; ipv6Only?: boolean }, selection: Selection, out: LineOutput,
): Promise<ReportRun> {
  const width = endpointWidth(Boolean(flags.ipv6Only));
  const extra = flags.json ? ExtraColumns.none() : ExtraColumns.choose(source.cgroups, source.start.files, selection);
  const pending: string[] = [];
  const tracker = new ConnectionTracker({
    onFinished: (c) => pending.push(flags.json
      ? JSON.stringify(lifeJson(c, source.clock, source.cgroups))
      : lifeLine(c, source.clock, width, extra)),
  });
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  if (!flags.json) out.writeLines([lifeHeader(width, extra)]);
  await source.run({
    onEvents: (events) => {
      tracker.apply(events);
      out.writeLines(pending.splice(0));
    },
    onLost: (newlyLost, total) => reportLostLine(out, Boolean(flags.json), newlyLost, total),
  });
  return { connectionsDropped: tracker.dropped };
}

export async function runLife(flags: LifeFlags): Promise<void> {
  const source = openLiveSource(flags, 'life', false);
  const out = new LineOutput(process.stdout, () => source.stop('output closed'));
  const run = await lifeReport(source, { json: flags.json, ipv6Only: Boolean(flags.ipv6 && !flags.ipv4) }, flags, out);
  await finishCommand(source, out, flags.verbose, run.connectionsDropped);
}
