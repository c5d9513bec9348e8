/**
 * `--cgroup`: only sockets whose owner runs in one cgroup or below it. The
 * value is a path under the cgroup2 mount (as /proc/PID/cgroup shows it), the
 * same path with the mount in front, or a container id prefix (as `docker ps`
 * shows ids). Events whose owner is not known are left out: nothing says
 * they belong to the cgroup.
 */
import * as path from 'node:path';
import { CgroupNames, CgroupTree } from '../host/cgroups';
import { containerCgroupOf, containerIdOf, shortContainerId } from '../host/containers';
import { Snapshot, TransitionEvent } from './decoder';
import { usageError } from '../errors';

const MAX_DECISIONS = 100_000;

/** Whether `cgroupPath` is `top` or below it. */
export function isWithin(cgroupPath: string, top: string): boolean {
  return top === '/' || cgroupPath === top || cgroupPath.startsWith(`${top}/`);
}

export class CgroupFilter {
  /** Per cgroup id, once its path is known (paths of an id never change). */
  private readonly decisions = new Map<number, boolean>();

  constructor(private readonly names: CgroupNames, readonly top: string) {}

  keepsOwner(cgroupId: number | null, pid: number | null): boolean {
    if (cgroupId === null || cgroupId === 0) return false;
    const known = this.decisions.get(cgroupId);
    if (known !== undefined) return known;
    const cgroupPath = this.names.pathOf(cgroupId, pid);
    if (cgroupPath === null) return false; // gone, or not seen yet: asked again next time
    const keep = isWithin(cgroupPath, this.top);
    if (this.decisions.size >= MAX_DECISIONS) this.decisions.clear();
    this.decisions.set(cgroupId, keep);
    return keep;
  }

  keepsEvent(e: TransitionEvent): boolean {
    return this.keepsOwner(e.cgroupId, e.pid);
  }

  /** The holders in the cgroup, and the sockets they hold. */
  snapshot(s: Snapshot): Snapshot {
    const files = s.files.filter((f) => this.keepsOwner(f.cgroupId, f.pid));
    const held = new Set(files.map((f) => f.skaddr));
    return { sockets: s.sockets.filter((sock) => held.has(sock.skaddr)), files };
  }
}

/**
 * A `--cgroup` value to the cgroup path it selects ("/system.slice/docker-<id>.scope"),
 * checked to exist; a usage error otherwise.
 */
export function parseCgroupSelection(text: string, tree: CgroupTree): string {
  const mount = tree.mount;
  if (!mount) throw usageError('--cgroup: this host has no cgroup2 hierarchy mounted');
  const value = text.trim();
  if (!value) throw usageError('--cgroup: empty value');
  const asPath = underMount(value, mount.mountPoint);
  if (tree.idOf(asPath) !== null) return asPath;
  if (/^[0-9a-f]{1,64}$/.test(value)) return containerCgroup(value, tree);
  throw usageError(`--cgroup: no cgroup ${asPath} under ${mount.mountPoint} (give a path as /proc/PID/cgroup shows it, or a container id prefix)`);
}

/** "/sys/fs/cgroup/a/b" or "/a/b" or "a/b" -> "/a/b". */
function underMount(value: string, mountPoint: string): string {
  const absolute = path.posix.normalize(value.startsWith('/') ? value : `/${value}`);
  if (absolute === mountPoint) return '/';
  if (absolute.startsWith(`${mountPoint}/`)) return absolute.slice(mountPoint.length).replace(/\/+$/, '') || '/';
  return absolute.replace(/\/+$/, '') || '/';
}

/** The one container whose id starts with `prefix`: its cgroup (below which its sub-cgroups are). */
function containerCgroup(prefix: string, tree: CgroupTree): string {
  const byId = new Map<string, string>();
  for (const cgroupPath of tree.all().values()) {
    const id = containerIdOf(cgroupPath);
    if (id === null || !id.startsWith(prefix)) continue;
    const top = containerCgroupOf(cgroupPath)!;
    const seen = byId.get(id);
    if (seen === undefined || top.length < seen.length) byId.set(id, top);
  }
  if (byId.size === 0) throw usageError(`--cgroup: no cgroup /${prefix} and no container with an id starting ${prefix}`);
  if (byId.size > 1) {
    const shortIds = [...byId.keys()].map((id) => shortContainerId(id));
    // Short ids that do not tell the containers apart are no help: then the full ones.
    const shown = new Set(shortIds).size === shortIds.length ? shortIds : [...byId.keys()];
    const ids = shown.sort().join(', ');
    throw usageError(`--cgroup: ${prefix} matches ${byId.size} containers (${ids}): give more of the id`);
  }
  return [...byId.values()][0];
}
