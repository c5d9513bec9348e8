/**
 * What must hold before the kernel side can load: privilege, BTF, tracefs.
 * Each failure is one clear sentence; nothing is attached half-way.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { TcptraceError } from '../errors';
import { belowFloor, KERNEL_FLOOR } from './features';

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

const CAP_DAC_OVERRIDE = 1, CAP_DAC_READ_SEARCH = 2, CAP_SYS_ADMIN = 21, CAP_PERFMON = 38, CAP_BPF = 39;
/** A tracepoint id libbpf reads from tracefs to attach the accept() programs. */
const TRACEPOINT_ID = 'events/syscalls/sys_exit_accept4/id';

function effectiveCapabilities(): bigint {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

function has(caps: bigint, cap: number): boolean {
  return (caps & (1n << BigInt(cap))) !== 0n;
}

/**
 * tracefs is root's alone (mode 0700): a user other than root needs
 * CAP_DAC_READ_SEARCH to read the tracepoint ids there. Only checked where
 * tracefs is mounted (mounting it takes root anyway).
 */
function canReadTracefs(): boolean {
  const dir = mountedTracefs();
  if (!dir) return true;
  try {
    fs.closeSync(fs.openSync(`${dir}/${TRACEPOINT_ID}`, 'r'));
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'; // no such tracepoint: it is skipped
  }
}

/** What this process lacks of what loading and attaching takes, by capability name. */
export function missingCapabilities(caps: bigint, tracefsReadable: boolean): string[] {
  // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON (kernel 5.8+ keeps that).
  const admin = has(caps, CAP_SYS_ADMIN);
  const missing: string[] = [];
  if (!admin && !has(caps, CAP_BPF)) missing.push('CAP_BPF');
  if (!admin && !has(caps, CAP_PERFMON)) missing.push('CAP_PERFMON');
  if (!tracefsReadable && !has(caps, CAP_DAC_READ_SEARCH) && !has(caps, CAP_DAC_OVERRIDE)) missing.push('CAP_DAC_READ_SEARCH');
  return missing;
}

export function checkPrivilege(): void {
  const missing = missingCapabilities(effectiveCapabilities(), canReadTracefs());
  if (missing.length) {
    throw new TcptraceError(
      `loading BPF programs needs root, or CAP_BPF and CAP_PERFMON (and CAP_DAC_READ_SEARCH to read tracefs ` +
        `as a user other than root); this process lacks ${missing.join(', ')}: run tcptrace with sudo`,
      'EPERM',
    );
  }
}

export function checkKernel(): void {
  if (belowFloor()) {
    throw new TcptraceError(`this kernel is Linux ${os.release()}: tcptrace needs Linux ${KERNEL_FLOOR.major}.${KERNEL_FLOOR.minor}+ (BPF ring buffer and iterators)`, 'EKERNEL');
  }
}

export function checkBtf(): void {
  if (!fs.existsSync(BTF_PATH)) {
    throw new TcptraceError(
      `this kernel has no BTF (${BTF_PATH} is missing): tcptrace needs Linux ${KERNEL_FLOOR.major}.${KERNEL_FLOOR.minor}+ built with CONFIG_DEBUG_INFO_BTF=y`,
      'ENOBTF',
    );
  }
}

/**
 * Where tracefs is mounted, if it is. Looking inside (which also triggers the
 * automount under debugfs) needs root's permissions; the mount table does not.
 */
function mountedTracefs(): string | undefined {
  const found = TRACEFS_DIRS.find((dir) => fs.existsSync(`${dir}/events`));
  if (found) return found;
  let mounts = '';
  try { mounts = fs.readFileSync('/proc/self/mounts', 'utf8'); } catch { return undefined; }
  const points = mounts.split('\n').map((line) => line.split(' ')).filter((f) => f[2] === 'tracefs').map((f) => f[1]);
  return TRACEFS_DIRS.find((dir) => points.includes(dir));
}

/** The accept() tracepoints are found through tracefs: mount it if nobody has. */
export function ensureTracefs(): { mounted: boolean } {
  if (mountedTracefs()) return { mounted: false };
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS_DIRS[0]], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const reason = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().split('\n')[0];
    throw new TcptraceError(
      `tracefs is not mounted at ${TRACEFS_DIRS[0]} and mounting it failed (${reason}); mount it with: mount -t tracefs nodev ${TRACEFS_DIRS[0]}`,
      'ETRACEFS',
    );
  }
  return { mounted: true };
}

/** Iterators alone need no tracefs: a snapshot leaves the host's mounts as they are. */
export function preflight(needTracefs = true): { tracefsMounted: boolean } {
  checkPrivilege();
  checkKernel();
  checkBtf();
  return { tracefsMounted: needTracefs && ensureTracefs().mounted };
}
