/** `tcptrace snapshot`: the TCP sockets of this network namespace right now, counted. */
import { performance } from 'node:perf_hooks';
import { Breakdown, renderSnapshot, snapshotJson } from '../../format/snapshot';
import { readSettings } from '../../host/settings';
import { LineOutput } from '../output';
import { cmdlineOf } from '../../host/proc';
import { TraceSession } from '../../kernel/session';
import { buildSnapshotReport } from '../../model/snapshot-report';

export interface SnapshotFlags {
  json?: boolean;
  by?: Breakdown;
  top?: number;
  verbose?: boolean;
}

const DEFAULT_TOP = 10;

export async function runSnapshot(flags: SnapshotFlags): Promise<void> {
  const started = performance.now();
  const settings = readSettings();
  const takenAt = new Date();
  // Iterators only, unloaded before this returns: nothing stays attached.
  const snapshot = TraceSession.snapshotOnce();
  const read = performance.now();
  const report = buildSnapshotReport({
    snapshot, netns: settings.netns, ephemeral: settings.ephemeral, reserved: settings.reserved, cmdlineOf,
  });
  const view = { report, takenAt, elapsedMs: performance.now() - started, by: flags.by, top: flags.top ?? DEFAULT_TOP };
  if (flags.verbose) {
    process.stderr.write(`tcptrace: ${snapshot.sockets.length} sockets and ${snapshot.files.length} socket fds read in ` +
      `${Math.round(read - started)} ms, counted in ${Math.round(view.elapsedMs - (read - started))} ms\n`);
  }
  const out = new LineOutput();
  out.writeLines(flags.json ? [JSON.stringify(snapshotJson(view))] : renderSnapshot(view));
  await out.flush();
}
