/**
 * `tcptrace doctor`: observes the host for a few seconds, reads its settings
 * and counters, and prints findings with their evidence and what to do.
 * It reads only: no setting is changed.
 */
import { CloseSides } from '../close-sides';
import { buildCulpritReport, CloseWaitLog } from '../culprits';
import { diagnose } from '../findings';
import { DoctorReport, doctorJson, renderDoctor } from '../format/doctor';
import { readCounters, readSettings } from '../host-settings';
import { LineOutput } from '../output';
import { cmdlineOf } from '../proc';
import { buildSnapshotReport, Holders, listenersOf } from '../snapshot-report';
import { ConnectionTracker } from '../tracker';
import { finishCommand, openLiveSource } from './run';

export interface DoctorFlags {
  duration?: number;
  json?: boolean;
  verbose?: boolean;
}

const DEFAULT_OBSERVATION_S = 5;

export async function runDoctor(flags: DoctorFlags): Promise<void> {
  const duration = flags.duration ?? DEFAULT_OBSERVATION_S;
  const settings = readSettings();
  const countersBefore = readCounters();
  const source = openLiveSource({ duration, verbose: flags.verbose }, 'doctor', false, true);
  const out = new LineOutput(process.stdout, () => source.stop('output closed'));
  if (process.stderr.isTTY) process.stderr.write(`tcptrace doctor: observing for ${duration} s (Ctrl-C to stop sooner)\n`);

  const sides = new CloseSides();
  const tracker = new ConnectionTracker({ onFinished: (c) => sides.finished(c) });
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
    snapshot: end, log, tracker, nowNs: end.tsNs, startedNs: start.tsNs, cmdlineOf, cgroups: source.cgroups,
  });
  const observedMs = (end.tsNs - start.tsNs) / 1e6;
  const findings = diagnose({
    observedMs, settings, countersBefore, countersAfter, sockets, culprits, closes: sides.rows(),
    listenersAtStart: listenersOf(start.sockets, new Holders(start.files)),
  });
  const report: DoctorReport = { observedMs, settings, sockets, findings };
  out.writeLines(flags.json ? [JSON.stringify(doctorJson(report))] : renderDoctor(report));
  await finishCommand(source, out, flags.verbose);
}
