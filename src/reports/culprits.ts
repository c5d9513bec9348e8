/** `culprits`: per process, the sockets it holds in CLOSE_WAIT at the end of a source, and why. */
import { cmdlineOf } from '../host/proc';
import { TimedSnapshot } from '../kernel/decoder';
import { buildCulpritReport, CloseWaitLog, CulpritReport, CulpritSort } from '../model/culprits';
import { ConnectionTracker } from '../model/tracker';
import { EventSource } from '../source/source';
import { ReportRun } from './report-run';

export interface CulpritsOptions {
  /** Only sockets in CLOSE_WAIT for at least this many seconds. */
  minAge?: number;
  /** Only these holders. */
  pid?: number[];
  /** Only holders whose comm contains one of these. */
  comm?: string[];
  /** Only sockets with one of these ports at either end. */
  port?: number[];
  /** Most sockets first (count, the default), or the oldest first (age). */
  sort?: CulpritSort;
  /** Live: also report on the sockets now, every this many seconds (--watch). */
  watchSeconds?: number;
}

export interface CulpritsReport extends ReportRun {
  report: CulpritReport;
}

/** Follows the source to its end; returns the report on the sockets and holders there. */
export async function culpritsReport(
  source: EventSource, options: CulpritsOptions, onWatch?: (report: CulpritReport) => void,
): Promise<CulpritsReport> {
  const log = new CloseWaitLog();
  const tracker = new ConnectionTracker();
  // Only events need the start: the kernel side's facts make it unread (and undecoded).
  if (!source.aggregates) tracker.loadSnapshot(source.start.sockets, source.start.tsNs);
  // Aggregate-only, no events come: the kernel side's facts on each socket say the same.
  const logFor = (snapshot: TimedSnapshot) => (source.aggregates ? CloseWaitLog.fromSnapshot(snapshot.sockets) : log);
  // Looked up once per report: a pod's name does not change while it lives.
  const report = (snapshot: TimedSnapshot): CulpritReport => buildCulpritReport({
    snapshot, log: logFor(snapshot), tracker, nowNs: snapshot.tsNs, startedNs: source.start.tsNs,
    minAgeMs: (options.minAge ?? 0) * 1000, pids: options.pid, comms: options.comm, ports: options.port, sortBy: options.sort,
    cmdlineOf, cgroups: source.cgroups, ownNetns: source.ownNetns, netnsName: source.netnsNames?.(),
  });
  const timer = options.watchSeconds
    ? setInterval(() => onWatch?.(report(source.snapshotNow())), options.watchSeconds * 1000)
    : undefined;
  let last: CulpritReport | undefined;
  try {
    await source.run({
      onEvents: (events) => {
        tracker.apply(events);
        log.apply(events);
      },
      atEnd: () => { last = report(source.finalSnapshot()); },
    });
  } finally {
    if (timer) clearInterval(timer);
  }
  // No end snapshot (a recording cut off): finalSnapshot() says so.
  last ??= report(source.finalSnapshot());
  return { report: last, connectionsDropped: tracker.dropped };
}

