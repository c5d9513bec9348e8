/** `tcptrace culprits`: per process, the sockets it holds in CLOSE_WAIT, and why. */
import { usageError } from '../../errors';
import { CulpritSort } from '../../model/culprits';
import { printCulprits } from '../print';
import { RecordFlags, runLiveReport } from '../run';

/** What picks and orders the culprits, live or from a recording (report FILE culprits). */
export interface CulpritSelectionFlags {
  minAge?: number;
  pid?: number[];
  /** Only sockets with one of these ports (the kernel side's filter too). */
  port?: number[];
  /** Only holders whose comm contains one of these. */
  comm?: string[];
  sort?: CulpritSort;
  /** Processes, groups and sockets per process in the text. */
  top?: number;
  /** Only holders in this cgroup (see options.ts parseCgroup). */
  cgroup?: string;
  json?: boolean;
}

export interface CulpritsFlags extends CulpritSelectionFlags, RecordFlags {
  duration?: number;
  watch?: boolean;
  interval?: number;
  verbose?: boolean;
  ringBuffer?: number;
}

const DEFAULT_OBSERVATION_S = 5;

export async function runCulprits(flags: CulpritsFlags): Promise<void> {
  if (flags.interval !== undefined && !flags.watch) {
    throw usageError('--interval is for --watch (without it culprits reports once, after --duration)');
  }
  const duration = flags.duration ?? (flags.watch ? undefined : DEFAULT_OBSERVATION_S);
  // What the kernel side keeps of each socket is the report: no events unless recording.
  // Every namespace: a pod's leak that began before tracing is in no other.
  const needs = { command: 'culprits', emitAccepts: true, aggregateOnly: true, resetsUnneeded: true, everyNetns: true };
  await runLiveReport({ ...flags, duration }, needs, (source, out) => printCulprits(source, flags, out));
}
