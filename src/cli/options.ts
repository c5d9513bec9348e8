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
import { AF_INET, AF_INET6, parseStateName, TCP, TCP_STATES } from '../kernel/states';

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

/** Ports for a filter applied in user space (snapshot): no kernel limit of eight; ":8080" as ss writes it. */
export function parseAnyPorts(flag: string, text: string, previous: number[] = []): number[] {
  const ports = list(flag, text).map((p) => integerIn(flag, p.replace(/^:/, ''), 1, 65535));
  return [...new Set([...previous, ...ports])];
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

/**
 * A cgroup path as a recording names its owners' cgroups ("/system.slice/x.service",
 * with or without the mount in front): taken as written, since the recording may
 * come from another host.
 */
export function parseRecordedCgroup(text: string): string {
  if (!text.trim()) throw usageError('--cgroup: empty value');
  if (text.split('/').includes('..')) throw usageError(`--cgroup: "${text}" climbs with ..: give the path as /proc/PID/cgroup shows it`);
  const value = text.trim().replace(/^\/sys\/fs\/cgroup(\/unified)?(?=\/|$)/, '');
  if (!value) return '/';
  const path = value.startsWith('/') ? value : `/${value}`;
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** The kernel keeps a process's name in 16 bytes, the last a NUL (TASK_COMM_LEN). */
const COMM_MAX = 15;

/** Process names as the kernel keeps them ("java,python3"); a holder matches when its name contains one. */
export function parseComms(text: string, previous: string[] = []): string[] {
  const comms = list('--comm', text);
  for (const c of comms) {
    if (c.length > COMM_MAX) throw usageError(`--comm: "${c}" is longer than a process name can be (${COMM_MAX} characters, as ps -o comm shows)`);
  }
  return [...new Set([...previous, ...comms])];
}

/** ss's names for states where they differ from the kernel's (ss state fin-wait-1, listening, closed). */
const SS_NAMES: Record<string, number> = { 'fin-wait-1': TCP.FIN_WAIT1, 'fin-wait-2': TCP.FIN_WAIT2, listening: TCP.LISTEN, closed: TCP.CLOSE };

/** ss's state groups (ss(8), STATE-FILTER). */
const ALL_STATES = [TCP.ESTABLISHED, TCP.SYN_SENT, TCP.SYN_RECV, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.TIME_WAIT, TCP.CLOSE,
  TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.LISTEN, TCP.CLOSING];
const BUCKET: number[] = [TCP.SYN_RECV, TCP.TIME_WAIT];
const CONNECTED = ALL_STATES.filter((s) => s !== TCP.LISTEN && s !== TCP.CLOSE);
const SS_GROUPS: Record<string, number[]> = {
  all: ALL_STATES,
  connected: CONNECTED,
  synchronized: CONNECTED.filter((s) => s !== TCP.SYN_SENT),
  bucket: BUCKET,
  big: ALL_STATES.filter((s) => !BUCKET.includes(s)),
};

/** One state or ss group, spelled as tcptrace or ss writes it: CLOSE_WAIT, close-wait, fin-wait-1, listening, connected. */
function statesNamed(name: string): number[] | undefined {
  const lower = name.trim().toLowerCase();
  if (SS_GROUPS[lower]) return SS_GROUPS[lower];
  const state = SS_NAMES[lower] ?? parseStateName(name);
  return state === undefined ? undefined : [state];
}

export function parseStates(text: string, previous: number[] = [], flag = '--state'): number[] {
  const states = list(flag, text).flatMap((name) => {
    const named = statesNamed(name);
    if (named === undefined) {
      throw usageError(`${flag}: unknown state "${name}" (one of ${TCP_STATES.filter(Boolean).join(', ')}, as ss spells them ` +
        `(close-wait, fin-wait-1, listening, ...), or ss's groups ${Object.keys(SS_GROUPS).join(', ')})`);
    }
    return named;
  });
  return [...new Set([...previous, ...states])];
}

/**
 * ss's filter words, the part tcptrace understands: `state NAME` (a state or
 * group, as ss spells them), `sport = :N`, `dport = :N` (also `sport :N`,
 * `==`, `eq`, and the brackets and `or` ss users write around them). Values
 * for one word are alternatives; words are all required.
 */
export function parseSsFilter(words: string[]): { states?: number[]; sports?: number[]; dports?: number[] } {
  const tokens = words.flatMap((w) => w.split(/([()])|\s+/)).filter((t) => t && !['(', ')', 'or', '||'].includes(t));
  const out: { states?: number[]; sports?: number[]; dports?: number[] } = {};
  for (let i = 0; i < tokens.length; i++) {
    const word = tokens[i];
    const value = () => {
      if (['=', '==', 'eq'].includes(tokens[i + 1])) i++;
      const next = tokens[++i];
      if (next === undefined) throw usageError(`snapshot filter: "${word}" needs a value (ss's spelling: ${word === 'state' ? 'state close-wait' : `${word} = :8080`})`);
      return next;
    };
    if (word === 'state') out.states = parseStates(value(), out.states, 'state');
    else if (word === 'sport' || word === 'dport') {
      const port = integerIn(word, value().replace(/^:/, ''), 1, 65535);
      const key = word === 'sport' ? 'sports' : 'dports';
      out[key] = [...new Set([...(out[key] ?? []), port])];
    } else {
      throw usageError(`snapshot filter: "${word}" is not understood (tcptrace takes ss's state NAME, sport = :N and dport = :N)`);
    }
  }
  return out;
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
