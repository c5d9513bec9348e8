/**
 * The one way a tracing command runs and ends: until --duration, Ctrl-C,
 * SIGTERM, SIGHUP or a closed output, then a clean detach that still
 * delivers every event read before it.
 */
import { performance } from 'node:perf_hooks';
import { lostJsonLine } from '../format/event-json';
import { LineOutput } from '../output';
import { FilterFlags, tracerOptions } from '../options';
import { SessionHandlers, SessionOptions, TraceSession } from '../session';
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

/**
 * A stop signal that arrives during start-up (while the BPF object loads, or
 * the first snapshot is taken) is held rather than fatal: the run then stops
 * as soon as it has started, so it still detaches cleanly and a recording
 * still gets its end. Without this, Node's default action would kill the
 * process mid-way and leave a recording without even its header.
 */
let heldSignal: NodeJS.Signals | undefined;
const holdSignal = (signal: NodeJS.Signals): void => { heldSignal ??= signal; };

function holdStopSignals(): void {
  for (const signal of STOP_SIGNALS) if (!process.listeners(signal).includes(holdSignal)) process.on(signal, holdSignal);
}

/** Stops holding; returns the signal that arrived meanwhile, if any. */
function releaseHeldSignal(): NodeJS.Signals | undefined {
  for (const signal of STOP_SIGNALS) process.removeListener(signal, holdSignal);
  const signal = heldSignal;
  heldSignal = undefined;
  return signal;
}

/** Preflight, load and attach, with stop signals held from the first moment. */
export function attachSession(options: SessionOptions, verbose?: boolean): TraceSession {
  holdStopSignals();
  if (verbose) process.stderr.write('tcptrace: loading the BPF programs\n');
  const session = TraceSession.open(options);
  if (verbose) for (const note of session.notes) process.stderr.write(`tcptrace: ${note}\n`);
  return session;
}

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
    const held = releaseHeldSignal();
    if (held) stop(`${held} during start-up`);
  });
}

/** Lost events as they are counted: a {"lost": N} line in JSON, else a note on stderr. */
export function reportLostLine(out: LineOutput, json: boolean, newlyLost: number, total: number): void {
  if (json) out.writeLines([lostJsonLine(newlyLost)]);
  else process.stderr.write(`tcptrace: ${newlyLost} events lost (ring buffer full; ${total} in all)\n`);
}

/**
 * At exit: what was lost, inferred or untracked, always when any was, and
 * with -v. `connectionsDropped` is the tracker's own count (connections it
 * stopped following past its cap), for the commands that follow connections.
 */
export function printCounters(c: TracerCounters, verbose: boolean, connectionsDropped?: number): void {
  if (!verbose && !c.lostEvents && !c.untrackedSockets && !c.inferred && !connectionsDropped) return;
  const dropped = connectionsDropped === undefined ? '' : `, ${connectionsDropped} connections dropped (too many open to follow)`;
  process.stderr.write(`tcptrace: ${c.lostEvents} events lost (${c.lostRingBufferFull} ring buffer full, ` +
    `${c.lostNested} nested), ${c.inferred} inferred (*), ${c.nestedCaught} nested caught, ` +
    `${c.untrackedSockets} sockets untracked (kernel socket map full)${dropped}\n`);
}

/** What a report over a source says besides its output. */
export interface ReportRun {
  /** Connections the tracker stopped following because too many were open (ConnectionTracker.dropped). */
  connectionsDropped: number;
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

export async function finishCommand(
  source: { counters(): TracerCounters }, out: LineOutput, verbose?: boolean, connectionsDropped?: number,
): Promise<void> {
  printCounters(source.counters(), Boolean(verbose), connectionsDropped);
  await out.flush();
}
