/**
 * Columns of the line-per-event outputs (`live --events`, `life`) that appear
 * only where they earn their width, decided once, before the header:
 * - CONTAINER (the owner's container, 12 hex as `docker ps` shows it) when some
 *   process holding a TCP socket at start runs in a container, or --cgroup
 *   selects a container: on a host without containers it would be all "-";
 * - NETNS (the socket's network namespace inode) when --netns selects several.
 * The JSON outputs always carry both.
 */
import { CgroupNames } from '../host/cgroups';
import { containerIdOf, SHORT_ID_LENGTH, shortContainerId } from '../host/containers';

export interface OwnerRow {
  cgroupId: number | null;
  pid: number | null;
  netns: number;
}

/** What was asked for: --cgroup's path and --netns's inodes (live flags, or a recording's header options). */
export interface Selection {
  cgroup?: string;
  netns?: number[];
}

const NETNS_WIDTH = 10; // 4026531840

export class ExtraColumns {
  constructor(private readonly containers: CgroupNames | null, private readonly netns: boolean) {}

  static none(): ExtraColumns {
    return new ExtraColumns(null, false);
  }

  /** The columns for this run, from the start snapshot's holders and the selection. */
  static choose(cgroups: CgroupNames, holders: { cgroupId: number; pid: number }[], selection: Selection): ExtraColumns {
    const containerSelected = selection.cgroup !== undefined && containerIdOf(selection.cgroup) !== null;
    const containerSeen = containerSelected || holders.some((h) => cgroups.containerOf(h.cgroupId, h.pid) !== null);
    return new ExtraColumns(containerSeen ? cgroups : null, (selection.netns?.length ?? 0) > 1);
  }

  header(): string[] {
    return [
      ...(this.containers ? ['CONTAINER'.padEnd(SHORT_ID_LENGTH)] : []),
      ...(this.netns ? ['NETNS'.padStart(NETNS_WIDTH)] : []),
    ];
  }

  cells(row: OwnerRow): string[] {
    return [
      ...(this.containers ? [(shortContainerId(this.containers.containerOf(row.cgroupId, row.pid)) ?? '-').padEnd(SHORT_ID_LENGTH)] : []),
      ...(this.netns ? [String(row.netns).padStart(NETNS_WIDTH)] : []),
    ];
  }
}

/** --cgroup and --netns as a recording's header options keep them (anything else is ignored). */
export function selectionOf(options: Record<string, unknown>): Selection {
  const { cgroup, netns } = options;
  return {
    ...(typeof cgroup === 'string' ? { cgroup } : {}),
    ...(Array.isArray(netns) && netns.every((n) => typeof n === 'number') ? { netns: netns as number[] } : {}),
  };
}
