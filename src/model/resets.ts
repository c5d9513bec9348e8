/**
 * Which local processes ended connections with a RST, how many and why (the
 * kernel's reasons), and how many RSTs each received: doctor's evidence for
 * "pid P sent 1,200 resets: it closed with unread data".
 */
import { FinishedConnection } from './tracker';

export interface ResetSenders {
  pid: number | null;
  comm: string | null;
  /** RSTs it sent, per the kernel's reason ("not known" before Linux 6.10), most first. */
  sent: { reason: string; count: number }[];
  sentTotal: number;
  /** RSTs its connections received from their peers. */
  received: number;
}

/** What each reason says the program did, in an operator's words (the kernel's enum sk_rst_reason). */
export const RESET_REASON_MEANINGS: Record<string, string> = {
  TCP_ABORT_ON_CLOSE: 'it closed connections with data it had not read',
  TCP_ABORT_ON_DATA: 'data arrived after it had closed its side',
  TCP_ABORT_ON_LINGER: 'its closed connections outlived their linger time (tcp_fin_timeout)',
  TCP_ABORT_ON_MEMORY: 'the kernel was short of memory for its orphaned connections',
  TCP_STATE: 'it aborted connections (SO_LINGER 0, or a disconnect)',
  TCP_KEEPALIVE_TIMEOUT: 'its keepalive probes went unanswered',
  TCP_DISCONNECT_WITH_DATA: 'it disconnected with data not yet sent',
};

export class ResetTally {
  private readonly byPid = new Map<number | null, { comm: string | null; sent: Map<string, number>; received: number }>();

  finished(c: FinishedConnection): void {
    if (!c.reset) return;
    let row = this.byPid.get(c.pid);
    if (!row) this.byPid.set(c.pid, (row = { comm: c.comm, sent: new Map(), received: 0 }));
    if (c.reset === 'received') {
      row.received++;
      return;
    }
    const reason = c.resetReason ?? 'not known';
    row.sent.set(reason, (row.sent.get(reason) ?? 0) + 1);
  }

  /** Every process with a RST either way, the most sent first. */
  rows(): ResetSenders[] {
    return [...this.byPid].map(([pid, row]) => {
      const sent = [...row.sent].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
      return { pid, comm: row.comm, sent, sentTotal: sent.reduce((sum, s) => sum + s.count, 0), received: row.received };
    }).sort((a, b) => b.sentTotal - a.sentTotal || b.received - a.received);
  }
}
