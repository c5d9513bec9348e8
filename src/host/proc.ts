/** What /proc says about a process. */
import * as fs from 'node:fs';

/** The full command line, as ps shows it; [comm] for kernel threads; comm if it has exited. */
export function cmdlineOf(pid: number, comm: string): string {
  try {
    const text = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    return text || `[${comm}]`;
  } catch {
    return comm;
  }
}
