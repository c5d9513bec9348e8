/**
 * Sockets per state now, per network namespace, as the live view and `serve`
 * show them: the kernel counts each namespace (count_states); these are the
 * totals and the order they are shown in.
 */
import { COUNTED_STATES } from '../kernel/states';
import type { NamespaceCounts } from '../source/live';

export type { NamespaceCounts };

/** The namespaces' counts summed, per state number. */
export function totalCounts(namespaces: NamespaceCounts[]): number[] {
  const total: number[] = [];
  for (const { counts } of namespaces) counts.forEach((n, state) => { total[state] = (total[state] ?? 0) + n; });
  return total;
}

/** Sockets in any state. */
export function socketsIn(counts: number[]): number {
  return COUNTED_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
}

/** The namespaces with sockets, the most first (tcptrace's own first among equals). */
export function busiestFirst(namespaces: NamespaceCounts[]): NamespaceCounts[] {
  return namespaces.filter((n) => socketsIn(n.counts) > 0)
    .sort((a, b) => socketsIn(b.counts) - socketsIn(a.counts) || Number(b.own) - Number(a.own) || a.netns - b.netns);
}
