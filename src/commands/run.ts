/**
 * The one way a tracing command runs and ends: until --duration, Ctrl-C,
 * SIGTERM, SIGHUP or a closed output, then a clean detach that still
 * delivers every event read before it.
 */
import { performance } from 'node:perf_hooks';
import { lostJsonLine } from '../format/event-json';
import { LineOutput } from '../output';
import { FilterFlags, tracerOptions } from '../options';
import { SessionHandlers, TraceSession } from '../session';
import { LiveSource } from '../source';
import { TraceLayout } from '../trace/writer';
import { TracerCounters } from '../native';

export interface RunOptions {
  session: TraceSession;
  handlers: SessionHandlers;
  durationSeconds?: number;
  /** Say on stderr when attached and when stopping. */
  verbose?: boolean;
  /** Receives the function that ends the run, for stops the command detects. */
  bindStop?(stop: (reason: string) => void): void;
  /** Runs at the stop, while the kernel side is still attached (for a last snapshot). */
  beforeStop?(): void;
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export function runUntilStopped({ session, handlers, durationSeconds, verbose, bindStop, beforeStop }: RunOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const timer = durationSeconds ? setTimeout(() => stop('--duration reached'), durationSeconds * 1000) : undefined;
    const stop = (reason = 'done') => {
      if (stopping) return;
      stopping = true;
      if (verbose) process.stderr.write(`tcptrace: stopping (${reason})\n`);
      if (timer) clearTimeout(timer);
      for (const signal of STOP_SIGNALS) process.removeListener(signal, stop);
      try {
        beforeStop?.();
      } catch (err) {
        session.stop().finally(() => reject(err));
        return;
      }
      session.stop().then(resolve, reject);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, stop);
    bindStop?.(stop);
    session.start(handlers);
    if (verbose) process.stderr.write(`tcptrace: attached ${Math.round(performance.now())} ms after start\n`);
  });
}

/** Lost events as they are counted: a {"lost": N} line in JSON, else a note on stderr. */
export function reportLostLine(out: LineOutput, json: boolean, newlyLost: number, total: number): void {
  if (json) out.writeLines([lostJsonLine(newlyLost)]);
  else process.stderr.write(`tcptrace: ${newlyLost} events lost (ring buffer full; ${total} in all)\n`);
}

/** At exit: what was lost, inferred or untracked, always when any was, and with -v. */
export function printCounters(c: TracerCounters, verbose: boolean): void {
  if (!verbose && !c.lostEvents && !c.untrackedSockets && !c.inferred) return;
  process.stderr.write(`tcptrace: ${c.lostEvents} events lost (${c.lostRingBufferFull} ring buffer full, ` +
    `${c.lostNested} nested), ${c.inferred} inferred (*), ${c.nestedCaught} nested caught, ` +
    `${c.untrackedSockets} sockets untracked\n`);
}

export interface RecordFlags {
  /** Also record the trace to this file (docs/trace-format.md). */
  record?: string;
  recordFormat?: TraceLayout;
}

/** The kernel side for a reporting command, recording to --record if asked. */
export function openLiveSource(
  flags: FilterFlags & RecordFlags & { duration?: number; verbose?: boolean },
  command: string,
  emitAccepts: boolean,
  snapshotsWithTimeWait = false,
): LiveSource {
  // TIME_WAIT and request sockets only for a recording (its report's chart)
  // and for commands that report on them: there can be hundreds of thousands.
  const options = {
    ...tracerOptions(flags),
    emitAccepts: emitAccepts || Boolean(flags.record),
    snapshotFullSocketsOnly: !(flags.record || snapshotsWithTimeWait),
  };
  const record = flags.record
    ? { path: flags.record, layout: flags.recordFormat ?? 'jsonl', options: { command, ...recordedFlags(flags) } }
    : undefined;
  return LiveSource.open(options, { durationSeconds: flags.duration, verbose: flags.verbose }, record);
}

/** The flags worth keeping in a recording's header. */
function recordedFlags(flags: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && typeof v !== 'function'));
}

export async function finishCommand(source: { counters(): TracerCounters }, out: LineOutput, verbose?: boolean): Promise<void> {
  printCounters(source.counters(), Boolean(verbose));
  await out.flush();
}
