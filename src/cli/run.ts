/**
 * What every tracing command does around its report: opens the live source
 * its flags ask for, says what was lost, and ends cleanly.
 */
import { lostJsonLine } from '../format/event-json';
import { TracerCounters } from '../kernel/native';
import { ReportRun } from '../reports/report-run';
import { LiveRun, LiveSource } from '../source/live';
import { RecordFormat, recordFormatFor } from '../trace/recording';
import { FilterFlags, tracerOptions } from './options';
import { LineOutput } from './output';

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
    `${c.untrackedSockets} sockets untracked (no kernel memory for their state)${dropped}\n`);
}

export interface RecordFlags {
  /** Also record the trace to this file (docs/trace-format.md). */
  record?: string;
  /** Unset: by the file's name (recordFormatFor). */
  recordFormat?: RecordFormat;
}

/** What a command needs of the kernel side, besides its flags. */
export interface LiveNeeds extends Omit<LiveRun, 'durationSeconds' | 'verbose'> {
  /** The command's name, kept in a recording's header. */
  command: string;
  /** Accept records (the accept-queue wait); every recording has them. */
  emitAccepts?: boolean;
  /** Snapshots with TIME_WAIT and request sockets; every recording has them (its report's chart). */
  snapshotsWithTimeWait?: boolean;
  /** The report needs only what the kernel side counts and keeps: no per-transition records, unless recording. */
  aggregateOnly?: boolean;
  /** The report needs each connection once, at its end, as the kernel side kept it: no per-transition records, unless recording. */
  connectionsOnly?: boolean;
  /** Transitions per owner and per peer, counted by the kernel (LiveSource.tallies). */
  countTallies?: boolean;
  /** The kernel histograms' unit (ns). */
  measureUnitNs?: number;
  /** Nothing the report shows depends on owners (a --pid filter still makes them needed). */
  ownersUnneeded?: boolean;
  /** Nothing the report shows is about resets (a recording keeps them). */
  resetsUnneeded?: boolean;
  /** Its snapshots walk every network namespace of the host (a pod's leak before tracing began too). */
  everyNetns?: boolean;
  /** Fixed histogram bounds (ns) per measure for the kernel to count against. */
  boundsNs?: number[][];
}

/** The kernel side for a command, recording to --record if asked. */
/** The flags every command that reads the kernel now may have. */
type LiveFlags = FilterFlags & RecordFlags & { duration?: number; verbose?: boolean };

export function openLiveSource(
  flags: LiveFlags,
  {
    command, emitAccepts, snapshotsWithTimeWait, aggregateOnly, connectionsOnly, countTallies, measureUnitNs, ownersUnneeded, resetsUnneeded,
    everyNetns, boundsNs, ...run
  }: LiveNeeds,
): LiveSource {
  // Without them by default: there can be hundreds of thousands of TIME_WAIT sockets.
  const options = {
    ...tracerOptions(flags),
    emitAccepts: Boolean(emitAccepts || flags.record),
    snapshotFullSocketsOnly: !(flags.record || snapshotsWithTimeWait),
    aggregateOnly: Boolean(aggregateOnly && !flags.record),
    emitConnections: Boolean(connectionsOnly && !flags.record),
    countTallies,
    measureUnitNs,
    ownersUnneeded: Boolean(ownersUnneeded && !flags.record && !flags.pid?.length),
    resetsUnneeded: Boolean(resetsUnneeded && !flags.record),
    everyNetns,
    boundsNs,
  };
  const record = flags.record
    ? { path: flags.record, format: recordFormatFor(flags.record, flags.recordFormat), options: { command, ...recordedFlags(flags) } }
    : undefined;
  return LiveSource.open(options, { ...run, durationSeconds: flags.duration, verbose: flags.verbose }, record);
}

/** The flags worth keeping in a recording's header. */
function recordedFlags(flags: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && typeof v !== 'function'));
}

/**
 * The one shape of a command that reports on the kernel now: open the source,
 * print the report to stdout (a closed stdout stops the run), end with the counters.
 */
export async function runLiveReport(
  flags: LiveFlags, needs: LiveNeeds, print: (source: LiveSource, out: LineOutput) => Promise<ReportRun | void>,
): Promise<void> {
  const source = openLiveSource(flags, needs);
  const out = new LineOutput(process.stdout, () => source.stop('output closed'));
  const run = await print(source, out);
  await finishCommand(source, out, flags.verbose, run?.connectionsDropped);
}

export async function finishCommand(
  source: { counters(): TracerCounters }, out: LineOutput, verbose?: boolean, connectionsDropped?: number,
): Promise<void> {
  printCounters(source.counters(), Boolean(verbose), connectionsDropped);
  await out.flush();
}
