/**
 * Cgroup ids (what the kernel side records for each owner) to cgroup paths and
 * container ids.
 *
 * A cgroup v2 id is the inode number of the cgroup's directory in the cgroup2
 * hierarchy, so a path is found by walking that hierarchy: the mount point comes
 * from /proc/self/mountinfo (/sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified
 * on hybrid ones). Walks are cached and bounded: at most MAX_DIRS directories, and
 * a new walk (on a miss) no sooner than a second after the last one, and no more
 * than 5% of the time. A miss first tries the owner's /proc/PID/cgroup, which
 * finds a new cgroup (a container started after tcptrace) without a walk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { containerIdOf } from './containers';

/** What reports need: a path and container for an owner's cgroup id. */
export interface CgroupNames {
  /** The cgroup's path under the cgroup2 mount ("/system.slice/x.scope"), or null
   *  when not known (no owner, a cgroup removed since, no cgroup2 hierarchy).
   *  `pid`, the owner, helps find a cgroup made since the last walk. */
  pathOf(id: number | null, pid?: number | null): string | null;
  /** The full id of the container the cgroup is in, or null. */
  containerOf(id: number | null, pid?: number | null): string | null;
}

/** Names for nothing: where no cgroup can be known. */
export const NO_CGROUP_NAMES: CgroupNames = { pathOf: () => null, containerOf: () => null };

export interface Cgroup2Mount {
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup. */
  mountPoint: string;
  /** The mount's root within the hierarchy: "/" unless bind-mounted from a sub-cgroup. */
  root: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The cgroup2 mount in /proc/self/mountinfo text, preferring one of the whole hierarchy. */
export function parseCgroup2Mount(mountinfo: string): Cgroup2Mount | null {
  let found: Cgroup2Mount | null = null;
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after === undefined || after.split(' ')[0] !== 'cgroup2') continue;
    const fields = before.split(' ');
    const mount = { root: unescapeMountField(fields[3]), mountPoint: unescapeMountField(fields[4]) };
    if (mount.root === '/') return mount;
    found ??= mount;
  }
  return found;
}

export function findCgroup2Mount(): Cgroup2Mount | null {
  try {
    return parseCgroup2Mount(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return null;
  }
}

/** /proc/PID/cgroup, or null once the process is gone. */
function procCgroupOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return null;
  }
}

/** The cgroup v2 path in /proc/PID/cgroup text (its "0::" line), or null. */
export function unifiedPathIn(procCgroup: string): string | null {
  const line = procCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line ? line.slice(3) : null;
}

const MAX_DIRS = 50_000;
const MAX_DEPTH = 64;
const MIN_REWALK_MS = 1000;
/** A walk may take at most this share of the time (1/20: 5%). */
const WALK_DUTY = 20;

export interface CgroupTreeOptions {
  maxDirs?: number;
  minRewalkMs?: number;
  /** Milliseconds, monotonic; tests drive it. */
  now?: () => number;
}

/** The live cgroup2 hierarchy of this host, as CgroupNames. */
export class CgroupTree implements CgroupNames {
  private paths = new Map<number, string>();
  private readonly containers = new Map<string, string | null>();
  /** Ids looked for and not found, with the walk generation they were looked for after. */
  private readonly missed = new Map<number, { generation: number; walked: boolean }>();
  private generation = 0;
  private nextWalkMs = -Infinity;
  private readonly maxDirs: number;
  private readonly minRewalkMs: number;
  private readonly now: () => number;
  /** The last walk stopped at maxDirs. */
  truncated = false;

  constructor(readonly mount: Cgroup2Mount | null, options: CgroupTreeOptions = {}) {
    this.maxDirs = options.maxDirs ?? MAX_DIRS;
    this.minRewalkMs = options.minRewalkMs ?? MIN_REWALK_MS;
    this.now = options.now ?? (() => performance.now());
  }

  pathOf(id: number | null, pid?: number | null): string | null {
    if (id === null || id === 0 || this.mount === null) return null;
    const known = this.paths.get(id);
    if (known !== undefined) return known;
    return this.lookUp(id, pid ?? null);
  }

  containerOf(id: number | null, pid?: number | null): string | null {
    const p = this.pathOf(id, pid);
    if (p === null) return null;
    let container = this.containers.get(p);
    if (container === undefined) {
      container = containerIdOf(p);
      if (this.containers.size >= this.maxDirs) this.containers.clear();
      this.containers.set(p, container);
    }
    return container;
  }

  /** A path under the mount ("/a/b") to the directory it names. */
  directoryOf(cgroupPath: string): string {
    if (!this.mount) throw new Error('no cgroup2 hierarchy');
    return path.join(this.mount.mountPoint, cgroupPath);
  }

  /** The id (inode) of the cgroup at this path, or null if there is none. */
  idOf(cgroupPath: string): number | null {
    try {
      const st = fs.statSync(this.directoryOf(cgroupPath));
      return st.isDirectory() ? st.ino : null;
    } catch {
      return null;
    }
  }

  /** The processes in this cgroup and every cgroup below it, now (at most maxDirs cgroups read). */
  pidsIn(cgroupPath: string): number[] {
    if (!this.mount) return [];
    const pids: number[] = [];
    const stack = [this.directoryOf(cgroupPath)];
    for (let read = 0; stack.length && read < this.maxDirs; read++) {
      const dir = stack.pop()!;
      try {
        for (const line of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.push(Number(line));
      } catch {
        continue; // removed meanwhile
      }
      stack.push(...subdirectories(dir).map((name) => path.join(dir, name)));
    }
    return pids;
  }

  /** Every cgroup now (a fresh walk): id -> path. */
  all(): ReadonlyMap<number, string> {
    this.walk();
    return this.paths;
  }

  private lookUp(id: number, pid: number | null): string | null {
    const miss = this.missed.get(id);
    if (miss) {
      // A walk made after its event did not find it: removed since (ids are never reused).
      if (miss.walked || miss.generation < this.generation) {
        miss.walked = true;
        return null;
      }
      if (!this.mayWalk()) return null;
    } else if (pid !== null) {
      const found = this.fromProcess(id, pid);
      if (found !== null) return found;
    }
    let walked = false;
    if (this.mayWalk()) {
      this.walk();
      walked = true;
      const found = this.paths.get(id);
      if (found !== undefined) return found;
    }
    if (this.missed.size >= this.maxDirs) this.missed.clear();
    this.missed.set(id, { generation: this.generation, walked });
    return null;
  }

  /** The owner's current cgroup, if it is still the one recorded. */
  private fromProcess(id: number, pid: number): string | null {
    const text = procCgroupOf(pid);
    if (text === null) return null;
    const inHierarchy = unifiedPathIn(text);
    const cgroupPath = inHierarchy === null ? null : this.underMount(inHierarchy);
    if (cgroupPath === null || this.idOf(cgroupPath) !== id) return null;
    this.remember(id, cgroupPath);
    return cgroupPath;
  }

  /** A hierarchy path (as /proc/PID/cgroup gives it) relative to the mount's root. */
  private underMount(hierarchyPath: string): string | null {
    const root = this.mount!.root;
    if (root === '/') return hierarchyPath;
    if (hierarchyPath === root) return '/';
    return hierarchyPath.startsWith(`${root}/`) ? hierarchyPath.slice(root.length) : null;
  }

  private mayWalk(): boolean {
    return this.now() >= this.nextWalkMs;
  }

  private remember(id: number, cgroupPath: string): void {
    if (this.paths.size >= 2 * this.maxDirs) this.paths.clear();
    this.paths.set(id, cgroupPath);
  }

  /** Depth first, at most maxDirs directories and MAX_DEPTH levels. */
  private walk(): void {
    if (!this.mount) return;
    const started = this.now();
    const found = new Map<number, string>();
    const stack: { dir: string; cgroupPath: string; depth: number }[] = [
      { dir: this.mount.mountPoint, cgroupPath: '/', depth: 0 },
    ];
    this.truncated = false;
    while (stack.length) {
      const { dir, cgroupPath, depth } = stack.pop()!;
      try {
        found.set(fs.statSync(dir).ino, cgroupPath);
      } catch {
        continue; // removed meanwhile
      }
      if (found.size >= this.maxDirs) {
        this.truncated = true;
        break;
      }
      if (depth >= MAX_DEPTH) continue;
      for (const name of subdirectories(dir)) {
        stack.push({ dir: path.join(dir, name), cgroupPath: path.posix.join(cgroupPath, name), depth: depth + 1 });
      }
    }
    this.paths = found;
    this.generation++;
    const took = this.now() - started;
    this.nextWalkMs = this.now() + Math.max(this.minRewalkMs, took * WALK_DUTY);
  }
}

function subdirectories(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** Names cgroups from a table (a recording's `cgroup` lines): no file system. */
export class CgroupTable implements CgroupNames {
  private readonly paths = new Map<number, string>();

  add(id: number, cgroupPath: string): void {
    this.paths.set(id, cgroupPath);
  }

  pathOf(id: number | null): string | null {
    return id === null ? null : this.paths.get(id) ?? null;
  }

  containerOf(id: number | null): string | null {
    const p = this.pathOf(id);
    return p === null ? null : containerIdOf(p);
  }
}

let host: CgroupTree | undefined;

/** This host's cgroup hierarchy, shared by everything in the process. */
export function hostCgroups(): CgroupTree {
  host ??= new CgroupTree(findCgroup2Mount());
  return host;
}

/**
 * The full container id of the cgroup with this id (as events and snapshot
 * holders carry it), or null. For other modules, e.g. to label a gauge.
 */
export function containerOfCgroupId(cgroupId: number, pid?: number): string | null {
  return hostCgroups().containerOf(cgroupId, pid);
}

/**
 * The full container id of a process, from /proc/PID/cgroup, or null (not in a
 * container, or gone). Reads the cgroup v2 line first, then the v1 hierarchies,
 * so it also works where cgroup v2 holds nothing.
 */
export function containerOfPid(pid: number): string | null {
  const text = procCgroupOf(pid);
  if (text === null) return null;
  const unified = unifiedPathIn(text);
  const fromUnified = unified === null ? null : containerIdOf(unified);
  if (fromUnified !== null) return fromUnified;
  for (const line of text.split('\n')) {
    const cgroupPath = line.split(':').slice(2).join(':');
    const id = cgroupPath ? containerIdOf(cgroupPath) : null;
    if (id !== null) return id;
  }
  return null;
}
