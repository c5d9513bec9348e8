/**
 * From the trace, per service: how many connections opened, and which side
 * sent the first FIN when they closed, and which local process that was.
 * The side that closes first is the side that keeps the TIME_WAIT socket.
 *
 * A service is the end that stays the same: for a connection this host
 * opened, its local address and the destination; for one it accepted, its
 * local listening address and port.
 */
import { TransitionEvent } from '../kernel/decoder';
import { TCP } from '../kernel/states';
import { FinishedConnection } from './tracker';

export interface Closer {
  pid: number;
  comm: string | null;
  count: number;
}

export interface ServiceCloses {
  role: 'client' | 'server';
  saddr: string;
  /** The service's port: the destination's for clients, the listening port for servers. */
  port: number;
  /** The destination address (clients); null for servers, whose peers vary. */
  daddr: string | null;
  /** Connections established during the trace, and the most in any one second of it. */
  opened: number;
  peakPerSecond: number;
  /** Connections that ended during the trace, by who sent the first FIN. */
  closed: number;
  localFirst: number;
  remoteFirst: number;
  /** No FIN first on either side: reset, refused, timed out. */
  noFin: number;
  /** The local processes that sent the first FIN, most first. */
  closers: Closer[];
}

export function serviceKey(role: 'client' | 'server', saddr: string, port: number, daddr: string | null): string {
  return `${role} ${saddr} ${daddr ?? '*'} ${port}`;
}

interface Tally extends ServiceCloses {
  byPid: Map<number, Closer>;
  /** The second (of monotonic time) being counted, and its count so far. */
  second: number;
  inSecond: number;
}

export class CloseSides {
  private readonly services = new Map<string, Tally>();

  /** Counts connections as they are established. */
  apply(events: TransitionEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'transition' || e.newstate !== TCP.ESTABLISHED) continue;
      let s: Tally;
      if (e.oldstate === TCP.SYN_SENT) s = this.service('client', e.saddr, e.dport, e.daddr);
      else if (e.oldstate === TCP.SYN_RECV) s = this.service('server', e.saddr, e.sport, null);
      else continue;
      s.opened++;
      const second = Math.floor(e.tsNs / 1e9);
      if (second !== s.second) {
        s.second = second;
        s.inSecond = 0;
      }
      s.peakPerSecond = Math.max(s.peakPerSecond, ++s.inSecond);
    }
  }

  /** A connection that ended (the tracker's onFinished). */
  finished(c: FinishedConnection): void {
    if (c.role === null) return;
    const s = c.role === 'client' ? this.service('client', c.saddr, c.dport, c.daddr) : this.service('server', c.saddr, c.sport, null);
    s.closed++;
    if (c.closedFirst === 'remote') s.remoteFirst++;
    else if (c.closedFirst === 'local') {
      s.localFirst++;
      if (c.pid !== null) {
        const closer = s.byPid.get(c.pid) ?? { pid: c.pid, comm: c.comm, count: 0 };
        closer.count++;
        s.byPid.set(c.pid, closer);
      }
    } else s.noFin++;
  }

  rows(): ServiceCloses[] {
    return [...this.services.values()].map(({ byPid, second, inSecond, ...s }) => ({
      ...s, closers: [...byPid.values()].sort((a, b) => b.count - a.count || a.pid - b.pid),
    }));
  }

  private service(role: 'client' | 'server', saddr: string, port: number, daddr: string | null): Tally {
    const key = serviceKey(role, saddr, port, daddr);
    let s = this.services.get(key);
    if (!s) {
      s = {
        role, saddr, port, daddr, opened: 0, peakPerSecond: 0, closed: 0, localFirst: 0, remoteFirst: 0, noFin: 0,
        closers: [], byPid: new Map(), second: -1, inSecond: 0,
      };
      this.services.set(key, s);
    }
    return s;
  }
}
