/**
 * `doctor`: a few seconds of the host observed, its settings and counters
 * read before and after, and the findings they bear out. It reads only.
 */
import { cmdlineOf } from '../host/proc';
import { Counters, HostSettings, readCounters } from '../host/settings';
import { CloseSides } from '../model/close-sides';
import { buildCulpritReport, CloseWaitLog } from '../model/culprits';
import { diagnose, Finding } from '../model/findings';
import { buildSnapshotReport, Holders, listenersOf, SnapshotReport } from '../model/snapshot-report';
import { ResetTally } from '../model/resets';
import { ConnectionTracker } from '../model/tracker';
import { EventSource } from '../source/source';

export interface DoctorReport {
  observedMs: number;
  settings: HostSettings;
  sockets: SnapshotReport;
  findings: Finding[];
}

/** `settings` and `countersBefore` are read before the source was opened. */
export async function doctorReport(source: EventSource, settings: HostSettings, countersBefore: Counters): Promise<DoctorReport> {
  const sides = new CloseSides();
  const resets = new ResetTally();
  const tracker = new ConnectionTracker({ onFinished: (c) => { sides.finished(c); resets.finished(c); } });
  const log = new CloseWaitLog();
  tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  // The kernel traces every network namespace; the snapshot, the settings and
  // the counters are this one's: keep the trace to it too.
  const netns = settings.netns;
  await source.run({
    onEvents: (all) => {
      const events = netns === null ? all : all.filter((e) => e.netns === netns);
      tracker.apply(events);
      log.apply(events);
      sides.apply(events);
    },
  });
  const countersAfter = readCounters();
  const start = source.start, end = source.finalSnapshot();

  const sockets = buildSnapshotReport({
    snapshot: end, netns: settings.netns, ephemeral: settings.ephemeral, reserved: settings.reserved, cmdlineOf,
  });
  const culprits = buildCulpritReport({
    snapshot: end, log, tracker, nowNs: end.tsNs, startedNs: start.tsNs, cmdlineOf, cgroups: source.cgroups, ephemeral: settings.ephemeral,
  });
  const observedMs = (end.tsNs - start.tsNs) / 1e6;
  const findings = diagnose({
    observedMs, settings, countersBefore, countersAfter, sockets, culprits, closes: sides.rows(),
    listenersAtStart: listenersOf(start.sockets, new Holders(start.files)), resets: resets.rows(),
  });
  return { observedMs, settings, sockets, findings };
}
