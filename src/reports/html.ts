/** `report --html`: everything one page shows, gathered from a recording in one pass. */
import { cmdlineOf } from '../host/proc';
import { TimedSnapshot } from '../kernel/decoder';
import { buildCulpritReport, CloseWaitLog, CulpritReport } from '../model/culprits';
import { LatencySet } from '../model/latency';
import { StateSeries } from '../model/state-series';
import { SummaryBuilder } from '../model/summary';
import { ConnectionTracker } from '../model/tracker';
import { FileSource } from '../source/file';

export interface HtmlReportInput {
  title: string;
  host: string;
  kernel: string;
  /** Wall-clock start, as the trace header has it (ISO 8601). */
  startTime: string;
  durationMs: number;
  summary: { label: string; value: string }[];
  culprits: CulpritReport;
  histograms: ReturnType<LatencySet['toJson']>;
  stateSeries: { tsNs: number; counts: Record<string, number> }[];
  /** Monotonic ns at the start: the state chart's time axis counts from it. */
  startNs: number;
}

const NO_CULPRITS: CulpritReport = { culprits: [], sockets: 0, orphans: 0, observedMs: 0 };

export async function htmlReport(source: FileSource): Promise<HtmlReportInput> {
  const summary = new SummaryBuilder();
  const latencies = new LatencySet('us');
  const log = new CloseWaitLog();
  const series = new StateSeries();
  const tracker = new ConnectionTracker({
    ...series.feed,
    onFinished: (c) => summary.addFinished(c),
    onMeasure: (kind, ns, c) => latencies.add(kind, ns, c),
  });
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  let end: TimedSnapshot | undefined;
  let lastNs = source.start.tsNs;

  // One pass: a recording can be read only once, and may be large.
  await source.run({
    onEvents: (events) => {
      summary.addEvents(events);
      tracker.apply(events);
      log.apply(events);
      lastNs = events[events.length - 1].tsNs;
    },
    atEnd: () => { end = source.finalSnapshot(); },
  });
  const endNs = end?.tsNs ?? lastNs;
  series.finish(endNs);
  const culprits = end
    ? buildCulpritReport({ snapshot: end, log, tracker, nowNs: end.tsNs, startedNs: source.start.tsNs, cmdlineOf, cgroups: source.cgroups })
    : NO_CULPRITS;
  const s = summary.build(source.start, end, endNs, source.counters(), tracker.dropped);
  const { header } = source;
  return {
    title: `tcptrace report: ${header.host}`, host: header.host, kernel: header.kernel, startTime: header.startTime,
    durationMs: s.durationMs, culprits, histograms: latencies.toJson(), stateSeries: series.points(), startNs: source.start.tsNs,
    summary: [
      { label: 'transitions', value: String(s.transitions) },
      { label: 'connections closed', value: String(s.connectionsClosed) },
      { label: 'how they ended', value: Object.entries(s.byEnding).map(([k, v]) => `${k} ${v}`).join(', ') || 'none' },
      { label: 'payload sent / received', value: `${s.txBytes} / ${s.rxBytes} bytes` },
      { label: 'events lost / inferred', value: `${s.counters.lostEvents} / ${s.counters.inferred}` },
      { label: 'sockets untracked / connections dropped', value: `${s.counters.untrackedSockets} / ${s.connectionsDropped}` },
      ...(end ? [] : [{ label: 'culprits', value: 'not available: the recording was cut off before its end snapshot' }]),
    ],
  };
}
