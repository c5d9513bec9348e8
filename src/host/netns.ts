/**
 * Network namespaces as users name them: an inode number (what events carry),
 * a name made by `ip netns add` (/run/netns/NAME), or a process (`pid:PID`,
 * /proc/PID/ns/net). A namespace's inode is the inode of those files.
 */
import * as fs from 'node:fs';
import { usageError } from '../errors';

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
}

/** Every network namespace a process is in or `ip netns` names, once each. */
export function listNetns(procDir = '/proc', runDir = NETNS_RUN_DIR): NetnsEntry[] {
  const found = new Map<number, NetnsEntry>();
  for (const name of entries(runDir)) {
    const path = `${runDir}/${name}`;
    const inode = inodeOf(path);
    if (inode !== null && !found.has(inode)) found.set(inode, { inode, path, name });
  }
  for (const pid of entries(procDir)) {
    if (!/^\d+$/.test(pid)) continue;
    const path = `${procDir}/${pid}/ns/net`;
    const inode = inodeOf(path);
    if (inode !== null && !found.has(inode)) found.set(inode, { inode, path, name: null });
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
