/**
 * Each report of any source (live or recorded) written out as lines: text or
 * JSON. The live commands and `report FILE` print through these, so a report
 * made from a recording reads as the live one did.
 */
import { DEFAULT_CULPRITS_TOP, renderCulprits } from '../format/culprits';
import { endpointWidth } from '../format/event-text';
import { ExtraColumns, Selection } from '../format/extra-columns';
import { renderLatencySet } from '../format/latency';
import { lifeHeader, lifeJson, lifeLine } from '../format/life';
import { renderSummary } from '../format/summary';
import { CulpritReport } from '../model/culprits';
import { LatencySet, SplitBy, Unit } from '../model/latency';
import { StillInState } from '../model/still-in-state';
import { culpritsReport, CulpritsOptions } from '../reports/culprits';
import { histReport } from '../reports/hist';
import { lifeReport } from '../reports/life';
import { ReportRun } from '../reports/report-run';
import { summaryReport } from '../reports/summary';
import { EventSource } from '../source/source';
import { LineOutput, outputWidth } from './output';
import { reportLostLine } from './run';

const DEFAULT_WATCH_INTERVAL_S = 2;

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

/** The distributions of any source, printed at its end (and every --interval live). */
export async function printHist(
  source: EventSource, flags: { json?: boolean; by?: SplitBy; unit?: Unit; interval?: number }, out: LineOutput,
): Promise<ReportRun> {
  const print = (latencies: LatencySet, nowNs: number, stillInState?: StillInState[]) => {
    if (flags.json) {
      const json = { ts: source.clock.wallMs(nowNs), unit: latencies.unit, histograms: latencies.toJson(), ...(stillInState ? { stillInState } : {}) };
      out.writeLines([JSON.stringify(json)]);
    } else {
      out.writeLines([...(flags.interval ? [source.clock.timeOfDay(nowNs).slice(0, 8)] : []), ...renderLatencySet(latencies, stillInState), '']);
    }
  };
  const run = await histReport(source, { by: flags.by, unit: flags.unit, intervalSeconds: flags.interval }, {
    onInterval: print,
    onLost: (newlyLost, total) => reportLostLine(out, false, newlyLost, total),
  });
  print(run.latencies, run.endNs, run.stillInState);
  return run;
}

/** The culprits of any source, printed at its end (and every --interval with --watch). */
export async function printCulprits(
  source: EventSource,
  flags: CulpritsOptions & { minAge?: number; watch?: boolean; interval?: number; json?: boolean; top?: number },
  out: LineOutput,
): Promise<ReportRun> {
  const redraw = Boolean(flags.watch && process.stdout.isTTY && !flags.json);
  const text = (r: CulpritReport) => renderCulprits(r, { top: flags.top ?? DEFAULT_CULPRITS_TOP, width: outputWidth() });
  const print = (r: CulpritReport) => {
    if (flags.json) out.writeLines([JSON.stringify(r)]);
    else if (redraw) out.redraw(text(r).join('\n'));
    else out.writeLines(text(r));
  };
  const watchSeconds = flags.watch ? flags.interval ?? DEFAULT_WATCH_INTERVAL_S : undefined;
  const run = await culpritsReport(source, {
    minAge: flags.minAge, pid: flags.pid, comm: flags.comm, port: flags.port, sort: flags.sort, watchSeconds,
  }, print);
  print(run.report);
  return run;
}

export async function printSummary(source: EventSource, json: boolean, out: LineOutput): Promise<ReportRun> {
  const run = await summaryReport(source);
  out.writeLines(json ? [JSON.stringify(run.summary)] : renderSummary(run.summary));
  return run;
}
