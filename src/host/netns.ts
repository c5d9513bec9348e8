/**
 * Network namespaces as users name them: an inode number (what events carry),
 * a name made by `ip netns add` (/run/netns/NAME), or a process (`pid:PID`,
 * /proc/PID/ns/net). A namespace's inode is the inode of those files.
 */
import * as fs from 'node:fs';
import { usageError } from '../errors';
import { unifiedPathIn } from './cgroups';
import { containerIdOf, podUidOf, shortContainerId } from './containers';

export const NETNS_RUN_DIR = '/run/netns';
const MAX_INODE = 0xffff_ffff; // ns.inum is an unsigned int

/** The namespace file's inode, if it is one (on nsfs, as /proc/self/ns/net is):
 *  /run/netns/NAME is a plain file when its bind mount is gone. */
function inodeOf(file: string): number | null {
  try {
    const st = fs.statSync(file);
    return st.dev === nsfsDevice() ? st.ino : null;
  } catch {
    return null;
  }
}

let nsfsDev: number | undefined;

function nsfsDevice(): number {
  nsfsDev ??= fs.statSync('/proc/self/ns/net').dev;
  return nsfsDev;
}

/** One `--netns` value to its inode; a usage error naming the value otherwise. */
export function netnsInode(text: string, runDir = NETNS_RUN_DIR): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < 1 || n > MAX_INODE) throw usageError(`--netns: ${text} is out of range (1-${MAX_INODE})`);
    return n;
  }
  const pid = /^pid:(.*)$/.exec(text);
  if (pid) {
    if (!/^[1-9]\d{0,9}$/.test(pid[1])) throw usageError(`--netns: "${text}" needs a process id (pid:1234)`);
    return processNetns(pid[1], text);
  }
  // A name of `ip netns`: one path component.
  if (text === '.' || text === '..' || text.includes('/') || text.includes('\0')) {
    throw usageError(`--netns: "${text}" is not an inode number, a name from "ip netns list", or pid:PID`);
  }
  const inode = inodeOf(`${runDir}/${text}`);
  if (inode === null) throw usageError(`--netns: no network namespace named "${text}" (see "ip netns list")`);
  return inode;
}

function processNetns(pid: string, text: string): number {
  try {
    return fs.statSync(`/proc/${pid}/ns/net`).ino;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw usageError(`--netns: no process ${pid} (from "${text}")`);
    throw usageError(`--netns: cannot read the network namespace of process ${pid} (${code ?? 'error'})`);
  }
}

/** The network namespace tcptrace itself runs in: net:[4026531840] -> 4026531840,
 *  the inode ss, lsns and events show; null where /proc cannot say. */
export function ownNetns(readLink: (path: string) => string = fs.readlinkSync): number | null {
  try {
    const match = /\[(\d+)\]/.exec(readLink('/proc/self/ns/net'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** A network namespace, and a file that enters it (for setns). */
export interface NetnsEntry {
  inode: number;
  path: string;
  /** Its `ip netns` name, if it has one. */
  name: string | null;
  /** A process in it (the first /proc lists), or null: only `ip netns` keeps it. */
  pid: number | null;
}

/** Every network namespace a process is in or `ip netns` names, once each. */
export function listNetns(procDir = '/proc', runDir = NETNS_RUN_DIR): NetnsEntry[] {
  const found = new Map<number, NetnsEntry>();
  for (const name of entries(runDir)) {
    const path = `${runDir}/${name}`;
    const inode = inodeOf(path);
    if (inode !== null && !found.has(inode)) found.set(inode, { inode, path, name, pid: null });
  }
  for (const pid of entries(procDir)) {
    if (!/^\d+$/.test(pid)) continue;
    const path = `${procDir}/${pid}/ns/net`;
    const inode = inodeOf(path);
    const seen = inode === null ? undefined : found.get(inode);
    if (inode !== null && !seen) found.set(inode, { inode, path, name: null, pid: Number(pid) });
    else if (seen && seen.pid === null) seen.pid = Number(pid);
  }
  return [...found.values()];
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The network namespaces these processes are in (a process gone meanwhile counts for none). */
export function netnsOfPids(pids: number[], procDir = '/proc'): Set<number> {
  const found = new Set<number>();
  for (const pid of pids) {
    const inode = inodeOf(`${procDir}/${pid}/ns/net`);
    if (inode !== null) found.add(inode);
  }
  return found;
}

/** Who holds a network namespace, as this host can tell: its `ip netns` name, the pod or container of a process in it. */
export interface NetnsHolder {
  inode: number;
  name: string | null;
  /** The pod's name (its hostname, which kubelet sets to the pod's name), or its UID where that cannot be read. */
  pod: string | null;
  podUid: string | null;
  /** The full id of the container a process in it runs in. */
  container: string | null;
}

/** What a namespace is called in tables and labels: its `ip netns` name, "pod NAME", "container ID", or null. */
export function netnsLabel(h: NetnsHolder): string | null {
  if (h.name) return h.name;
  if (h.pod) return `pod ${h.pod}`;
  return h.container ? `container ${shortContainerId(h.container)}` : null;
}

/** The holder of one listed namespace, from its process's cgroup (and, in a pod, its hostname). */
export function holderOf(entry: NetnsEntry, procDir = '/proc'): NetnsHolder {
  const cgroupPath = entry.pid === null ? null : unifiedPathIn(readText(`${procDir}/${entry.pid}/cgroup`) ?? '');
  const podUid = cgroupPath === null ? null : podUidOf(cgroupPath);
  const hostname = podUid === null ? null : readText(`${procDir}/${entry.pid}/root/etc/hostname`)?.trim() || null;
  return {
    inode: entry.inode,
    name: entry.name,
    pod: podUid === null ? null : hostname ?? podUid,
    podUid,
    container: cgroupPath === null ? null : containerIdOf(cgroupPath),
  };
}

/**
 * The host's namespaces and their holders, listed again on each call; a
 * holder is looked up once per namespace (by inode and the process seen in it).
 */
export class NetnsDirectory {
  private holders = new Map<number, { pid: number | null; holder: NetnsHolder }>();

  constructor(private readonly procDir = '/proc', private readonly runDir = NETNS_RUN_DIR) {}

  list(): { entry: NetnsEntry; holder: NetnsHolder }[] {
    const listed = listNetns(this.procDir, this.runDir);
    const next = new Map<number, { pid: number | null; holder: NetnsHolder }>();
    const out = listed.map((entry) => {
      const known = this.holders.get(entry.inode);
      const holder = known && known.pid === entry.pid ? known.holder : holderOf(entry, this.procDir);
      next.set(entry.inode, { pid: entry.pid, holder });
      return { entry, holder };
    });
    this.holders = next;
    return out;
  }

  /** What names each namespace now (netnsLabel), listed once for all the lookups. */
  names(): (inode: number) => string | null {
    const names = new Map(this.list().map(({ entry, holder }) => [entry.inode, netnsLabel(holder)]));
    return (inode) => names.get(inode) ?? null;
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
