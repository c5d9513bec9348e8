/**
 * Listeners that drop connections because their accept queue is full, as the
 * state counts find them each refresh (count_states passes every listener):
 * the kernel's per-listener drop count (what ListenDrops sums host-wide), its
 * growth since tcptrace first saw the listener, and since the last refresh.
 */
import { formatEndpoint } from '../kernel/addr';
import type { ListenerNow } from '../kernel/decoder';
import type { NamespaceCounts } from '../source/live';

/** A listener that dropped while watched. */
export interface DroppingListener {
  netns: number;
  /** "127.0.0.1:8080", "[::]:443". */
  listener: string;
  owner: ListenerNow['owner'];
  acceptQueue: number;
  acceptQueueLimit: number;
  /** Since tcptrace first saw it listening. */
  droppedWhileWatched: number;
  /** Since the refresh before. */
  droppedLastRefresh: number;
}

/** What one listening address has dropped in all, over its sockets' lives (a Prometheus counter's value). */
export interface ListenerDropTotal {
  netns: number;
  listener: string;
  drops: number;
}

/** At most this many listeners remembered (the oldest forgotten first). */
const MAX_LISTENERS = 10_000;

export class ListenDrops {
  /** Per listening socket: its drop count when first seen, and at the last refresh. */
  private readonly seen = new Map<string, { first: number; last: number }>();
  /** Per (namespace, address): drops the kernel counted, summed over its sockets' lives (a restarted listener adds on). */
  private readonly totals = new Map<string, ListenerDropTotal>();
  private dropping: DroppingListener[] = [];

  update(namespaces: NamespaceCounts[]): void {
    const now: DroppingListener[] = [];
    for (const l of namespaces.flatMap((n) => n.listeners)) {
      const listener = formatEndpoint(l.saddr, l.sport);
      const before = this.seen.get(l.skaddr);
      const grown = Math.max(0, l.listenDrops - (before?.last ?? 0));
      this.remember(l.skaddr, { first: before?.first ?? l.listenDrops, last: l.listenDrops });
      this.addToTotal(l.netns, listener, grown);
      const whileWatched = l.listenDrops - (before?.first ?? l.listenDrops);
      if (whileWatched > 0) {
        now.push({
          netns: l.netns, listener, owner: l.owner, acceptQueue: l.acceptQueue, acceptQueueLimit: l.acceptQueueLimit,
          droppedWhileWatched: whileWatched, droppedLastRefresh: before ? grown : 0,
        });
      }
    }
    this.dropping = now.sort((a, b) => b.droppedLastRefresh - a.droppedLastRefresh || b.droppedWhileWatched - a.droppedWhileWatched);
  }

  /** The listeners now open that dropped since first seen, those dropping fastest first. */
  droppingNow(): DroppingListener[] {
    return this.dropping;
  }

  /** Drops per (namespace, address) that ever dropped: cumulative, for a Prometheus counter. */
  cumulative(): ListenerDropTotal[] {
    return [...this.totals.values()].filter((t) => t.drops > 0);
  }

  private remember(skaddr: string, counts: { first: number; last: number }): void {
    this.seen.delete(skaddr);
    if (this.seen.size >= MAX_LISTENERS) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(skaddr, counts);
  }

  private addToTotal(netns: number, listener: string, drops: number): void {
    const key = `${netns} ${listener}`;
    const total = this.totals.get(key);
    if (total) total.drops += drops;
    else if (this.totals.size < MAX_LISTENERS) this.totals.set(key, { netns, listener, drops });
  }
}
