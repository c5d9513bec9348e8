/**
 * What the live view shows besides state counts: transitions per interval
 * and in total, by kind, by process and by peer, from events or from the
 * kernel's running totals. Bounded whatever the load: interval maps are
 * cleared every tick, totals are pruned to the busiest.
 */
import { KernelTallies, TransitionEvent } from '../kernel/decoder';
import { stateName } from '../kernel/states';

const MAX_TOTAL_KEYS = 10_000;
const KEEP_AFTER_PRUNE = 1_000;

export interface Ranked {
  key: string;
  label: string;
  /** A second label where there is one: a process's container. */
  detail: string | null;
  perSecond: number;
  total: number;
}

class Tally {
  private interval = new Map<string, number>();
  private totals = new Map<string, number>();
  private labels = new Map<string, string>();
  private details = new Map<string, string | null>();
  private lastInterval = new Map<string, number>();
  /** The kernel's running totals as last read: only keys it still has. */
  private running = new Map<string, number>();

  /** `detail` is asked for once per key, when the key is first seen. */
  add(key: string, label: string, detail?: () => string | null, count = 1): void {
    this.interval.set(key, (this.interval.get(key) ?? 0) + count);
    this.totals.set(key, (this.totals.get(key) ?? 0) + count);
    if (!this.labels.has(key)) {
      this.labels.set(key, label);
      if (detail) this.details.set(key, detail());
    }
  }

  /**
   * The kernel's running totals, every key it has now: what each grew by
   * since the last read is counted. A total below the last one was evicted
   * and started again in the kernel: all of it is new.
   */
  addRunning(entries: { key: string; label: string; total: number; detail?: () => string | null }[]): void {
    const running = new Map<string, number>();
    for (const { key, label, total, detail } of entries) {
      const before = this.running.get(key) ?? 0;
      const grew = total >= before ? total - before : total;
      if (grew > 0) this.add(key, label, detail, grew);
      running.set(key, total);
    }
    this.running = running;
  }

  /** Ends an interval: its counts become the "per second" figures. */
  tick(): void {
    this.lastInterval = this.interval;
    this.interval = new Map();
    if (this.totals.size > MAX_TOTAL_KEYS) this.prune();
  }

  top(n: number, intervalSeconds: number): Ranked[] {
    const keys = new Set([...this.lastInterval.keys(), ...this.totals.keys()]);
    return [...keys]
      .map((key) => ({
        key,
        label: this.labels.get(key) ?? key,
        detail: this.details.get(key) ?? null,
        perSecond: (this.lastInterval.get(key) ?? 0) / intervalSeconds,
        total: this.totals.get(key) ?? 0,
      }))
      .sort((a, b) => b.perSecond - a.perSecond || b.total - a.total)
      .slice(0, n);
  }

  /** Keeps the busiest totals and every key of the interval just shown. */
  private prune(): void {
    const busiest = [...this.totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, KEEP_AFTER_PRUNE);
    const kept = new Map(busiest);
    for (const key of this.lastInterval.keys()) kept.set(key, this.totals.get(key) ?? 0);
    this.totals = kept;
    for (const key of this.labels.keys()) {
      if (this.totals.has(key) || this.interval.has(key)) continue;
      this.labels.delete(key);
      this.details.delete(key);
    }
  }
}

export class LiveStats {
  /** `containerOf` names a process's container (the process table shows it). */
  constructor(private readonly containerOf: (pid: number, cgroupId: number | null) => string | null = () => null) {}

  readonly transitions = new Tally();
  readonly processes = new Tally();
  readonly peers = new Tally();
  total = 0;
  intervalTotal = 0;
  lastIntervalTotal = 0;

  add(events: TransitionEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'transition') continue;
      this.total++;
      this.intervalTotal++;
      const kind = transitionKind(e.oldstate, e.newstate);
      this.transitions.add(kind, kind);
      if (e.pid !== null) this.processes.add(String(e.pid), processLabel(e.pid, e.comm), () => this.containerOf(e.pid!, e.cgroupId));
      // The remote address only: ports of server-side peers are ephemeral.
      if (e.dport !== 0) this.peers.add(e.daddr, e.daddr);
    }
  }

  /**
   * The same counts from the kernel (a source opened aggregate-only with
   * countTallies): transitions per (old, new) and the tallies per owner and
   * per peer, all running totals since loading.
   */
  addKernel(transitions: number[][], tallies: KernelTallies): void {
    const kinds: { key: string; label: string; total: number }[] = [];
    transitions.forEach((row, old) => row.forEach((total, now) => {
      if (total) kinds.push({ key: transitionKind(old, now), label: transitionKind(old, now), total });
    }));
    const total = kinds.reduce((sum, k) => sum + k.total, 0);
    this.intervalTotal += Math.max(0, total - this.total);
    this.total = Math.max(this.total, total);
    this.transitions.addRunning(kinds);
    this.processes.addRunning(tallies.processes.map((p) => ({
      key: String(p.pid), label: processLabel(p.pid, p.comm), total: p.transitions, detail: () => this.containerOf(p.pid, p.cgroupId),
    })));
    this.peers.addRunning(tallies.peers.map((p) => ({ key: p.daddr, label: p.daddr, total: p.transitions })));
  }

  tick(): void {
    this.lastIntervalTotal = this.intervalTotal;
    this.intervalTotal = 0;
    this.transitions.tick();
    this.processes.tick();
    this.peers.tick();
  }
}

function transitionKind(old: number, now: number): string {
  return `${stateName(old)} -> ${stateName(now)}`;
}

function processLabel(pid: number, comm: string | null): string {
  return `${pid} ${comm ?? ''}`.trim();
}
