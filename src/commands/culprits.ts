/** `tcptrace culprits`: per process, the sockets it holds in CLOSE_WAIT, and why. */
import * as fs from 'node:fs';
import { Clock } from '../clock';
import { buildCulpritReport, CloseWaitLog, CulpritReport } from '../culprits';
import { renderCulprits } from '../format/culprits';
import { LineOutput } from '../output';
import { TraceSession } from '../session';
import { ConnectionTracker } from '../tracker';
import { printCounters, runUntilStopped } from './run';

export interface CulpritsFlags {
  duration?: number;
  watch?: boolean;
  interval?: number;
  minAge?: number;
  pid?: number[];
  json?: boolean;
  verbose?: boolean;
  ringBuffer?: number;
}

/** The full command line, as ps shows it; [comm] for kernel threads. */
export function cmdlineOf(pid: number, comm: string): string {
  try {
    const text = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    return text || `[${comm}]`;
  } catch {
    return comm; // the process has exited since the snapshot
  }
}

const DEFAULT_OBSERVATION_S = 5;

export async function runCulprits(flags: CulpritsFlags): Promise<void> {
  const session = TraceSession.open({ emitAccepts: true, ...(flags.ringBuffer ? { ringBufferBytes: flags.ringBuffer } : {}) });
  const clock = new Clock();
  const startedNs = clock.nowNs();
  const log = new CloseWaitLog();
  const tracker = new ConnectionTracker();
  tracker.loadSnapshot(session.snapshot().sockets, startedNs);
  let stop = (reason: string) => {};
  const out = new LineOutput(process.stdout, () => stop('output closed'));

  const report = (): CulpritReport => buildCulpritReport({
    snapshot: session.snapshot(), log, tracker, nowNs: clock.nowNs(), startedNs,
    minAgeMs: (flags.minAge ?? 0) * 1000, pids: flags.pid, cmdlineOf,
  });
  const print = (r: CulpritReport, redraw: boolean) => {
    if (flags.json) out.writeLines([JSON.stringify(r)]);
    else if (redraw) out.redraw(renderCulprits(r).join('\n'));
    else out.writeLines(renderCulprits(r));
  };
  const redraw = Boolean(flags.watch && process.stdout.isTTY && !flags.json);
  const timer = flags.watch ? setInterval(() => print(report(), redraw), (flags.interval ?? 2) * 1000) : undefined;
  let last: CulpritReport | undefined;

  await runUntilStopped({
    session,
    durationSeconds: flags.duration ?? (flags.watch ? undefined : DEFAULT_OBSERVATION_S),
    verbose: flags.verbose,
    bindStop: (fn) => { stop = fn; },
    // The holders must be read while the kernel side is still attached.
    beforeStop: () => { last = report(); },
    handlers: {
      onEvents: (events) => {
        tracker.apply(events);
        log.apply(events);
      },
    },
  });
  if (timer) clearInterval(timer);
  if (last) print(last, redraw);
  printCounters(session, Boolean(flags.verbose));
  await out.flush();
}
