/** What /proc says: about a process, and the ephemeral port range. */
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

const PORT_RANGE = '/proc/sys/net/ipv4/ip_local_port_range';

/** How many local ports connect() can pick from in this network namespace
 *  (net.ipv4.ip_local_port_range, both ends included); null if unreadable. */
export function ephemeralPortCount(file = PORT_RANGE): number | null {
  try {
    const [low, high] = fs.readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && Number.isInteger(high) && high >= low ? high - low + 1 : null;
  } catch {
    return null;
  }
}
