/**
 * `tcptrace doctor`: observes the host for a few seconds, reads its settings
 * and counters, and prints findings with their evidence and what to do.
 * It reads only: no setting is changed.
 */
import { doctorJson, renderDoctor } from '../../format/doctor';
import { readCounters, readSettings } from '../../host/settings';
import { doctorReport } from '../../reports/doctor';
import { outputWidth, paintFor } from '../output';
import { runLiveReport } from '../run';

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
  await runLiveReport({ duration, verbose: flags.verbose }, { command: 'doctor', snapshotsWithTimeWait: true }, async (source, out) => {
    if (process.stderr.isTTY) process.stderr.write(`tcptrace doctor: observing for ${duration} s (Ctrl-C to stop sooner)\n`);
    const report = await doctorReport(source, settings, countersBefore);
    out.writeLines(flags.json ? [JSON.stringify(doctorJson(report))] : renderDoctor(report, paintFor(process.stdout), outputWidth()));
  });
}
