/**
 * What must hold before the kernel side can load: privilege, BTF, tracefs.
 * Each failure is one clear sentence; nothing is attached half-way.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { TcptraceError } from './errors';

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

const CAP_NET_ADMIN = 12, CAP_SYS_ADMIN = 21, CAP_PERFMON = 38, CAP_BPF = 39;

function effectiveCapabilities(): bigint {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

function has(caps: bigint, cap: number): boolean {
  return (caps & (1n << BigInt(cap))) !== 0n;
}

export function checkPrivilege(): void {
  const caps = effectiveCapabilities();
  const enough = has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON) && has(caps, CAP_NET_ADMIN));
  if (!enough) {
    throw new TcptraceError(
      'tcptrace needs root (or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN) to load its BPF program: run it with sudo',
      'EPERM',
    );
  }
}

export function checkBtf(): void {
  if (!fs.existsSync(BTF_PATH)) {
    throw new TcptraceError(
      `this kernel has no BTF (${BTF_PATH} is missing): tcptrace needs Linux 5.9+ built with CONFIG_DEBUG_INFO_BTF=y`,
      'ENOBTF',
    );
  }
}

/** The accept() tracepoints are found through tracefs: mount it if nobody has. */
export function ensureTracefs(): { mounted: boolean } {
  if (TRACEFS_DIRS.some((dir) => fs.existsSync(`${dir}/events`))) return { mounted: false };
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
  checkBtf();
  return { tracefsMounted: needTracefs && ensureTracefs().mounted };
}
