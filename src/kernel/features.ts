/**
 * What tcptrace needs of the kernel, and from which version: the one statement
 * of the floor (docs/ quote it), checked before anything loads, and the
 * optional features it probes for, with what is lost without each.
 */
import * as os from 'node:os';

/** BPF ring buffer (5.8), iterators iter/tcp and iter/task_file (5.9), socket storage from tp_btf and iterators and bpf_sock_from_file (5.11). */
export const KERNEL_FLOOR = { major: 5, minor: 11 } as const;

export interface OptionalFeature {
  /** The kernel BTF type the addon probes for (native/tracer.cc). */
  btfType: string;
  what: string;
  since: string;
  /** The programs left unloaded without it (the addon's skippedPrograms()). */
  programs: string[];
  without: string;
}

export const OPTIONAL_FEATURES: OptionalFeature[] = [{
  btfType: 'btf_trace_sock_send_length',
  what: 'the sock_send_length/sock_recv_length tracepoints',
  since: '6.3',
  programs: ['on_send', 'on_recv'],
  without: 'owners are learned at connect, accept and close only, and culprits cannot measure the idle time before the peer\'s FIN',
}, {
  btfType: 'sk_rst_reason',
  what: 'the reason argument of the tcp_send_reset tracepoint',
  since: '6.10',
  programs: ['on_send_reset'],
  without: 'a RST this host sends is shown without the kernel\'s reason (reset sent)',
}];

/**
 * Kernel BTF types to probe as absent: TCPTRACE_ASSUME_MISSING=btf_trace_sock_send_length
 * takes an older kernel's path on this one (for tests, and to see what tcptrace says there).
 */
export function assumedMissing(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.TCPTRACE_ASSUME_MISSING ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** "5.4.0-150-generic" -> below the floor?; null where the release cannot be read as a version. */
export function belowFloor(release: string = os.release()): boolean | null {
  const match = /^(\d+)\.(\d+)/.exec(release);
  if (!match) return null;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major < KERNEL_FLOOR.major || (major === KERNEL_FLOOR.major && minor < KERNEL_FLOOR.minor);
}

/** One line per optional feature this kernel lacks (or is taken to lack), naming what tcptrace cannot do without it. */
export function limitsOf(skippedPrograms: string[], assumed: string[] = [], release: string = os.release()): string[] {
  return OPTIONAL_FEATURES.filter((f) => f.programs.some((p) => skippedPrograms.includes(p))).map((f) => {
    const lacks = assumed.includes(f.btfType) ? `is taken to lack (TCPTRACE_ASSUME_MISSING)` : 'lacks';
    return `this kernel (${release}) ${lacks} ${f.what} (Linux ${f.since}+): ${f.without}`;
  });
}
