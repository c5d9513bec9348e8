/** `tcptrace report FILE --html -o OUT`: one self-contained page of everything in a recording. */
import * as fs from 'node:fs';
import { buildCulpritReport, CloseWaitLog, CulpritReport } from '../culprits';
import { TcptraceError } from '../errors';
import { renderHtmlReport } from '../export/html';
import { LatencySet } from '../latency';
import { cmdlineOf } from '../proc';
import { FileSource, TimedSnapshot } from '../source';
import { SummaryBuilder } from '../summary';
import { StateSeries } from '../trace/state-series';
import { ConnectionTracker } from '../tracker';

const NO_CULPRITS: CulpritReport = { culprits: [], sockets: 0, orphans: 0, observedMs: 0 };

export async function runHtmlReport(file: string, output: string): Promise<void> {
  const source = await FileSource.open(file);
  const summary = new SummaryBuilder();
  const latencies = new LatencySet('us');
  const log = new CloseWaitLog();
  const series = new StateSeries();
  const tracker = new ConnectionTracker({
    onFinished: (c) => summary.addFinished(c),
    onMeasure: (kind, ns, c) => latencies.add(kind, ns, c),
  });
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  series.start(source.start.sockets, source.start.tsNs);
  let end: TimedSnapshot | undefined;
  let lastNs = source.start.tsNs;

  // One pass: a recording can be read only once, and may be large.
  await source.run({
    onEvents: (events) => {
      summary.addEvents(events);
      tracker.apply(events);
      log.apply(events);
      for (const e of events) series.apply(e);
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
  const html = renderHtmlReport({
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
  });
  try {
    fs.writeFileSync(output, html);
  } catch (err) {
    throw new TcptraceError(`cannot write ${output}: ${(err as Error).message}`, 'EWRITE');
  }
}
