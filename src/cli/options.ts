/**
 * Flag values -> validated settings. Every parser throws a usage error (exit 2)
 * naming the flag and the value it could not accept.
 */
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { CgroupFilter, parseCgroupSelection } from '../kernel/cgroup-filter';
import { hostCgroups } from '../host/cgroups';
import { usageError } from '../errors';
import { STDOUT } from '../output-file';
import { netnsInode } from '../host/netns';
import type { SessionOptions } from '../kernel/session';
import { AF_INET, AF_INET6, parseStateName, TCP_STATES } from '../kernel/states';

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

/** Seconds between refreshes of a long-running agent: each one walks every socket and open file. */
export function parseRefreshInterval(flag: string, text: string): number {
  const seconds = parseSeconds(flag, text);
  if (seconds < 0.1 || seconds > 3600) throw usageError(`${flag}: ${text} is out of range (0.1-3600 s)`);
  return seconds;
}

export interface ListenAddress {
  /** An IP address (IPv6 without brackets) or a host name. */
  host: string;
  /** 0: any free port (the one chosen is printed). */
  port: number;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** `tcptrace serve`'s defaults. */
export const SERVE_DEFAULTS = { listen: '127.0.0.1:9466', intervalSeconds: 5, top: 10 } as const;

/** Where to listen: "127.0.0.1:9466", "[::1]:9466", "localhost:9466", "0.0.0.0:9466". */
export function parseListen(text: string): ListenAddress {
  const flag = '--listen';
  const match = /^\[([^\]]*)\]:([^:]*)$/.exec(text) ?? /^([^:\[\]]*):([^:]*)$/.exec(text);
  if (!match) {
    const hint = isIP(text.replace(/:\d+$/, '')) === 6 || text.split(':').length > 2 ? ' (IPv6 addresses go in brackets: [::1]:9466)' : '';
    throw usageError(`${flag}: "${text}" is not HOST:PORT or [IPv6]:PORT${hint}`);
  }
  const [, host, portText] = match;
  const bracketed = text.startsWith('[');
  if (bracketed && isIP(host) !== 6) throw usageError(`${flag}: "${host}" in brackets is not an IPv6 address`);
  const isName = HOST_NAME.test(host) && !/^[\d.]+$/.test(host); // 999.1.1.1 is a bad address, not a name
  if (!bracketed && isIP(host) !== 4 && !isName) throw usageError(`${flag}: "${host}" is not an IPv4 address or a host name`);
  return { host, port: integerIn(flag, portText, 0, 65535) };
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

/**
 * A file to write: checked before anything is attached, so that a typo in a
 * directory name fails at once rather than after the trace was taken. "-" is stdout.
 */
export function parseOutputPath(flag: string, text: string): string {
  if (text.trim() === '') throw usageError(`${flag}: empty file name`);
  if (text === STDOUT) {
    if (flag === '--record') throw usageError('--record -: stdout carries the report; tcptrace record -o - writes the trace to stdout');
    return text;
  }
  const existing = statOrUndefined(text);
  if (existing?.isDirectory()) throw usageError(`${flag}: ${text} is a directory`);
  const dir = path.dirname(text);
  if (!existing) {
    const parent = statOrUndefined(dir);
    if (!parent) throw usageError(`${flag}: directory ${dir} does not exist`);
    if (!parent.isDirectory()) throw usageError(`${flag}: ${dir} is not a directory`);
  }
  const target = existing ? text : dir;
  try {
    fs.accessSync(target, fs.constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'is on a read-only file system' : 'is not writable';
    throw usageError(`${flag}: ${existing ? text : `directory ${dir}`} ${why}`);
  }
  return text;
}

/** Writing `output` must not destroy `input` before it is read (export t.jsonl -o t.jsonl). */
export function checkNotInput(flag: string, output: string, input: string): void {
  const out = statOrUndefined(output);
  const inp = statOrUndefined(input);
  if (out && inp && out.dev === inp.dev && out.ino === inp.ino) {
    throw usageError(`${flag}: ${output} is the trace being read: write to another file`);
  }
}

/** The file's stats; undefined if there is no such file. */
function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw usageError(`${file}: ${(err as Error).message}`);
  }
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
