/** `serve`: what the gauges of the Prometheus metrics say now. */
import { containerOfPid } from '../host/cgroups';
import { shortContainerId } from '../host/containers';
import { ephemeralPortCount } from '../host/settings';
import { TimedSnapshot } from '../kernel/decoder';
import { TCP } from '../kernel/states';
import { CloseWaitHolding, closeWaitHoldings } from '../model/culprits';
import { ListenDrops } from '../model/listen-drops';
import { Refresh, summariseHolders } from '../model/metrics';
import { totalCounts } from '../model/state-counts';
import { keptByKernel, stillInState } from '../model/still-in-state';
import { LiveSource } from '../source/live';

export interface GaugeOptions {
  /** Follows the listeners' drops from one refresh to the next. */
  listenDrops: ListenDrops;
  /** Only these holders. */
  pid?: number[];
  /** Holders named one by one; the rest are summed. */
  top: number;
}

/**
 * The gauges' values from the kernel's view now. The kernel counts each
 * network namespace's states itself, after the family and port filters; the
 * source narrows the snapshot with the same filters. The
 * snapshot walks every socket and open file (0.4 s for 100,000
 * of each here, against 40 ms for the count alone): it is taken only when
 * there is a CLOSE_WAIT socket to name, and walks only the other namespaces
 * that have one.
 */
export function gaugesNow(
  source: LiveSource, options: GaugeOptions, snapshot?: () => TimedSnapshot,
): Refresh {
  const namespaces = source.stateCounts();
  options.listenDrops.update(namespaces);
  let holdings: CloseWaitHolding[] = [];
  let closeWaitOldestSeconds = 0;
  if (totalCounts(namespaces)[TCP.CLOSE_WAIT] > 0) {
    // Only the namespaces with a CLOSE_WAIT socket are walked: each walk visits the whole host's table.
    const leaking = new Set(namespaces.filter((n) => n.counts[TCP.CLOSE_WAIT] > 0).map((n) => n.netns));
    const now = snapshot ? snapshot() : source.snapshotNow((inode) => leaking.has(inode));
    holdings = closeWaitHoldings(now, { pids: options.pid }).held;
    const oldestMs = stillInState(source.start, now, keptByKernel).find((s) => s.name === 'closeWait')?.oldestMs;
    closeWaitOldestSeconds = (oldestMs ?? 0) / 1000;
  }
  const containerOf = (pid: number) => shortContainerId(containerOfPid(pid)) ?? '';
  return {
    namespaces, listenDrops: options.listenDrops.cumulative(), holders: summariseHolders(holdings, options.top, containerOf), closeWaitOldestSeconds, ephemeralPorts: ephemeralPortCount(),
  };
}

