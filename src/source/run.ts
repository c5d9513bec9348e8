/**
 * The one way a live session runs and ends: until --duration, Ctrl-C,
 * SIGTERM, SIGHUP or a stop() (a closed output, a full disk), then a clean
 * detach that still delivers every event read before it.
 */
import { performance } from 'node:perf_hooks';
import { CaptureTo, SessionHandlers, SessionOptions, TraceSession } from '../kernel/session';

export interface RunOptions {
  session: TraceSession;
  handlers: SessionHandlers;
  /** A binary capture the addon writes the records to as it reads them. */
  capture?: CaptureTo;
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
  const session = TraceSession.open(options, () => {
    if (verbose) process.stderr.write('tcptrace: loading the BPF programs\n');
  });
  if (verbose) for (const note of session.notes) process.stderr.write(`tcptrace: ${note}\n`);
  for (const limit of session.limits) process.stderr.write(`tcptrace: ${limit}\n`);
  return session;
}

export function runUntilStopped({ session, handlers, capture, durationSeconds, verbose, bindStop, beforeStop }: RunOptions): Promise<void> {
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
    session.start(handlers, capture);
    if (verbose) process.stderr.write(`tcptrace: attached ${Math.round(performance.now())} ms after start\n`);
    const held = releaseHeldSignal();
    if (held) stop(`${held} during start-up`);
  });
}
