/**
 * Flag values -> validated settings. Every parser throws a usage error (exit 2)
 * naming the flag and the value it could not accept.
 */
import { CgroupFilter, parseCgroupSelection } from './cgroup-filter';
import { hostCgroups } from './cgroups';
import { usageError } from './errors';
import { netnsInode } from './netns';
import type { SessionOptions } from './session';
import { AF_INET, AF_INET6, parseStateName, TCP_STATES } from './states';

const MAX_LIST = 8; // TCPTRACE_MAX_FILTER in bpf/tcptrace.h
const PID_MAX = 4_194_304; // PID_MAX_LIMIT on 64-bit kernels

function list(flag: string, text: string): string[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw usageError(`${flag}: empty list`);
  return items;
}

function integerIn(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw usageError(`${flag}: "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw usageError(`${flag}: ${text} is out of range (${min}-${max})`);
  return n;
}

function atMostEight<T>(flag: string, values: T[]): T[] {
  const unique = [...new Set(values)];
  if (unique.length > MAX_LIST) throw usageError(`${flag}: at most ${MAX_LIST} values (got ${unique.length})`);
  return unique;
}

export function parsePorts(text: string, previous: number[] = []): number[] {
  const ports = list('--port', text).map((p) => integerIn('--port', p, 1, 65535));
  return atMostEight('--port', [...previous, ...ports]);
}

export function parsePids(text: string, previous: number[] = []): number[] {
  const pids = list('--pid', text).map((p) => integerIn('--pid', p, 1, PID_MAX));
  return atMostEight('--pid', [...previous, ...pids]);
}

/** Network namespaces: inode numbers, names from `ip netns`, or pid:PID. */
export function parseNetns(text: string, previous: number[] = []): number[] {
  const inodes = list('--netns', text).map((item) => netnsInode(item));
  return atMostEight('--netns', [...previous, ...inodes]);
}

/** A cgroup path (under the cgroup2 mount, or with it) or a container id prefix. */
export function parseCgroup(text: string): string {
  return parseCgroupSelection(text, hostCgroups());
}

export function parseStates(text: string, previous: number[] = []): number[] {
  const states = list('--state', text).map((name) => {
    const state = parseStateName(name);
    if (state === undefined) {
      throw usageError(`--state: unknown state "${name}" (one of ${TCP_STATES.filter(Boolean).join(', ')})`);
    }
    return state;
  });
  return [...new Set([...previous, ...states])];
}

/** Seconds, as a positive decimal ("5", "0.5"). */
export function parseSeconds(flag: string, text: string): number {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) throw usageError(`${flag}: "${text}" is not a number of seconds`);
  const seconds = Number(text);
  if (seconds <= 0 || seconds > 31_536_000) throw usageError(`${flag}: ${text} is out of range (0-31536000 s, exclusive of 0)`);
  return seconds;
}

/** A whole number from 1 up to max ("--top 10"). */
export function parseCount(flag: string, text: string, max = 1000): number {
  return integerIn(flag, text.trim(), 1, max);
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 };

/** Ring buffer size: a power of two from 64 KiB to 1 GiB ("8M", "16MiB", "65536"). */
export function parseRingBufferSize(text: string): number {
  const match = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  if (!match) throw usageError(`--ring-buffer: "${text}" is not a size (e.g. 8M, 64M)`);
  const bytes = Number(match[1]) * SIZE_UNITS[match[2].toLowerCase()];
  if (bytes < 1 << 16 || bytes > 1 << 30 || (bytes & (bytes - 1)) !== 0) {
    throw usageError(`--ring-buffer: ${text} must be a power of two from 64K to 1G`);
  }
  return bytes;
}

export interface FilterFlags {
  pid?: number[];
  port?: number[];
  state?: number[];
  ipv4?: boolean;
  ipv6?: boolean;
  /** Network namespace inodes (parseNetns). */
  netns?: number[];
  /** A cgroup path under the cgroup2 mount (parseCgroup). */
  cgroup?: string;
  ringBuffer?: number;
}

/** The session settings for these flags: the kernel-side filters, and --cgroup's. */
export function tracerOptions(flags: FilterFlags): SessionOptions {
  let family = 0;
  if (flags.ipv4 && !flags.ipv6) family = AF_INET;
  if (flags.ipv6 && !flags.ipv4) family = AF_INET6;
  return {
    family,
    ports: flags.port ?? [],
    pids: flags.pid ?? [],
    netns: flags.netns ?? [],
    stateMask: (flags.state ?? []).reduce((mask, s) => mask | (1 << s), 0),
    ...(flags.ringBuffer ? { ringBufferBytes: flags.ringBuffer } : {}),
    ...(flags.cgroup ? { cgroup: new CgroupFilter(hostCgroups(), flags.cgroup) } : {}),
  };
}
