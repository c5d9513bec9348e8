/** `tcptrace snapshot`: the TCP sockets of this network namespace right now, counted. */
import { performance } from 'node:perf_hooks';
import { Breakdown, renderSnapshot, snapshotJson } from '../../format/snapshot';
import { readSettings } from '../../host/settings';
import { LineOutput } from '../output';
import { cmdlineOf } from '../../host/proc';
import { TraceSession } from '../../kernel/session';
import { buildSnapshotReport, filterSnapshot, SocketFilter, splitByNamespace } from '../../model/snapshot-report';
import { NetnsDirectory } from '../../host/netns';
import { stateName } from '../../kernel/states';
import { parseSsFilter } from '../options';

export interface SnapshotFlags {
  /** ss's filter words: state NAME, sport = :N, dport = :N. */
  filter?: string[];
  state?: number[];
  port?: number[];
  sport?: number[];
  dport?: number[];
  json?: boolean;
  by?: Breakdown;
  top?: number;
  verbose?: boolean;
}

const DEFAULT_TOP = 10;

/** The flags and ss's words together: each list of values is one condition. */
function filterOf(flags: SnapshotFlags): SocketFilter {
  const words = parseSsFilter(flags.filter ?? []);
  const join = (a?: number[], b?: number[]) => (a?.length || b?.length ? [...new Set([...(a ?? []), ...(b ?? [])])] : undefined);
  return { states: join(flags.state, words.states), ports: flags.port, sports: join(flags.sport, words.sports), dports: join(flags.dport, words.dports) };
}

/** "state CLOSE_WAIT, port 8080", or null for no filter. */
function describeFilter(f: SocketFilter): string | null {
  const parts = [
    f.states?.length ? `state ${f.states.map(stateName).join(' or ')}` : '',
    f.ports?.length ? `port ${f.ports.join(' or ')}` : '',
    f.sports?.length ? `local port ${f.sports.join(' or ')}` : '',
    f.dports?.length ? `remote port ${f.dports.join(' or ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

export async function runSnapshot(flags: SnapshotFlags): Promise<void> {
  const filter = filterOf(flags);
  const started = performance.now();
  const settings = readSettings();
  const takenAt = new Date();
  // Iterators only, unloaded before this returns: nothing stays attached.
  // Every namespace: tcptrace's own in full, the others (pods, containers) counted.
  const all = TraceSession.snapshotOnce({ everyNetns: true });
  const read = performance.now();
  const names = new NetnsDirectory().names();
  const whole = splitByNamespace(all, settings.netns, names).own;
  const { own: snapshot, others } = splitByNamespace(filterSnapshot(all, filter), settings.netns, names);
  const report = buildSnapshotReport({
    snapshot, unfiltered: whole.sockets, netns: settings.netns, ephemeral: settings.ephemeral, reserved: settings.reserved, cmdlineOf,
  });
  const view = {
    report, others, takenAt, elapsedMs: performance.now() - started, by: flags.by, top: flags.top ?? DEFAULT_TOP,
    filter: describeFilter(filter), unfilteredSockets: whole.sockets.length,
  };
  if (flags.verbose) {
    process.stderr.write(`tcptrace: ${snapshot.sockets.length} sockets and ${snapshot.files.length} socket fds read in ` +
      `${Math.round(read - started)} ms, counted in ${Math.round(view.elapsedMs - (read - started))} ms\n`);
  }
  const out = new LineOutput();
  out.writeLines(flags.json ? [JSON.stringify(snapshotJson(view))] : renderSnapshot(view));
  await out.flush();
}

