/**
 * What the host says about its TCP settings and counters, read-only: the
 * net.* sysctls that bear on TIME_WAIT, CLOSE_WAIT and listen queues, the
 * ephemeral port range, and the kernel's counters (/proc/net/netstat,
 * /proc/net/snmp). All of it is per network namespace, like the iterators:
 * it describes the namespace tcptrace runs in.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { TcptraceError } from '../errors';
import { ownNetns } from './netns';

/** The sysctls doctor reads. A value is null where this kernel has no such setting. */
export const SYSCTLS = [
  'net.ipv4.tcp_tw_reuse',
  'net.ipv4.tcp_tw_reuse_delay',
  'net.ipv4.tcp_tw_recycle',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_max_tw_buckets',
  'net.ipv4.tcp_timestamps',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_max_syn_backlog',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.tcp_abort_on_overflow',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.core.somaxconn',
] as const;

export type SysctlName = (typeof SYSCTLS)[number];

export interface PortRange {
  low: number;
  high: number;
}

export interface HostSettings {
  kernel: string;
  /** Inode of the network namespace read (as `ip netns identify`/lsns show it), null if unreadable. */
  netns: number | null;
  sysctls: Record<SysctlName, string | null>;
  ephemeral: PortRange;
  /** ip_local_reserved_ports: never picked by connect() or bind(0). */
  reserved: PortRange[];
}

/** "TcpExt.ListenOverflows" -> value, from /proc/net/netstat and /proc/net/snmp. */
export type Counters = Record<string, number>;

/** Reads a file, or null when it does not exist (a setting this kernel lacks). */
export type ReadText = (path: string) => string | null;

export const readText: ReadText = (path) => {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TcptraceError(`cannot read ${path}: ${(err as Error).message}`);
  }
};

export function sysctlPath(name: string): string {
  return `/proc/sys/${name.replace(/\./g, '/')}`;
}

/** "32768\t60999\n" -> {low, high}. */
export function parsePortRange(text: string): PortRange {
  const match = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!match) throw new TcptraceError(`ip_local_port_range: cannot read "${text.trim()}"`);
  return { low: Number(match[1]), high: Number(match[2]) };
}

/** "8080,9000-9010" -> ranges; "" -> none. */
export function parseReservedPorts(text: string): PortRange[] {
  return text.trim().split(',').filter(Boolean).map((item) => {
    const [low, high = low] = item.trim().split('-').map(Number);
    if (!Number.isInteger(low) || !Number.isInteger(high)) throw new TcptraceError(`ip_local_reserved_ports: cannot read "${item}"`);
    return { low, high };
  });
}

/**
 * /proc/net/netstat and /proc/net/snmp: pairs of lines, a header of names and
 * a line of values, each starting with the same "Group:". Values may be
 * negative (Tcp MaxConn is -1).
 */
export function parseCounterTable(text: string): Counters {
  const out: Counters = {};
  const lines = text.split('\n').filter((l) => l.trim());
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [group, ...names] = lines[i].trim().split(/\s+/);
    const [valueGroup, ...values] = lines[i + 1].trim().split(/\s+/);
    if (group !== valueGroup || !group.endsWith(':')) {
      throw new TcptraceError(`kernel counters: header "${group}" is followed by "${valueGroup}"`);
    }
    names.forEach((name, j) => { out[`${group.slice(0, -1)}.${name}`] = Number(values[j]); });
  }
  return out;
}

/** How far a counter moved between two readings (0 if absent in either). */
export function counterDelta(before: Counters, after: Counters, name: string): number {
  return (after[name] ?? 0) - (before[name] ?? 0);
}

/** The port count in a range, less the reserved ports inside it. */
export function usablePorts(range: PortRange, reserved: PortRange[]): number {
  let count = range.high - range.low + 1;
  for (const r of reserved) {
    const low = Math.max(r.low, range.low), high = Math.min(r.high, range.high);
    if (high >= low) count -= high - low + 1;
  }
  return Math.max(0, count);
}

export function inRange(port: number, range: PortRange): boolean {
  return port >= range.low && port <= range.high;
}

/** How many local ports connect() can pick from in this network namespace
 *  (both ends of net.ipv4.ip_local_port_range included); null if unreadable or nonsense. */
export function ephemeralPortCount(file = sysctlPath('net.ipv4.ip_local_port_range')): number | null {
  try {
    const { low, high } = parsePortRange(readText(file) ?? '');
    return high >= low ? high - low + 1 : null;
  } catch {
    return null;
  }
}

export function readSettings(read: ReadText = readText): HostSettings {
  const sysctls = Object.fromEntries(SYSCTLS.map((name) => [name, read(sysctlPath(name))?.trim() ?? null])) as Record<SysctlName, string | null>;
  const range = sysctls['net.ipv4.ip_local_port_range'];
  if (range === null) throw new TcptraceError('cannot read net.ipv4.ip_local_port_range: is /proc mounted?');
  return {
    kernel: os.release(),
    netns: ownNetns(),
    sysctls,
    ephemeral: parsePortRange(range),
    reserved: parseReservedPorts(sysctls['net.ipv4.ip_local_reserved_ports'] ?? ''),
  };
}

export function readCounters(read: ReadText = readText): Counters {
  const tables = ['/proc/net/netstat', '/proc/net/snmp'].map((path) => {
    const text = read(path);
    if (text === null) throw new TcptraceError(`cannot read ${path}: is /proc mounted?`);
    return parseCounterTable(text);
  });
  return Object.assign({}, ...tables);
}

/** A sysctl's value as a number, or null if absent or not a single number. */
export function sysctlNumber(settings: HostSettings, name: SysctlName): number | null {
  const value = settings.sysctls[name];
  return value !== null && /^-?\d+$/.test(value) ? Number(value) : null;
}
