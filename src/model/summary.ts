/** `report summary`: what happened in a trace, in counts. */
import { TimedSnapshot, TransitionEvent } from '../kernel/decoder';
import { stateName } from '../kernel/states';
import { Ending, FinishedConnection } from './tracker';
import { TracerCounters } from '../kernel/native';

export interface Summary {
  durationMs: number;
  transitions: number;
  byTransition: Record<string, number>;
  connectionsClosed: number;
  byEnding: Partial<Record<Ending, number>>;
  txBytes: number;
  rxBytes: number;
  socketsAtStart: Record<string, number>;
  socketsAtEnd: Record<string, number> | null;
  counters: TracerCounters;
  /** Connections the report stopped following because too many were open at once. */
  connectionsDropped: number;
}

export function countByState(snapshot: TimedSnapshot | undefined): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of snapshot?.sockets ?? []) counts[stateName(s.state)] = (counts[stateName(s.state)] ?? 0) + 1;
  return counts;
}

export class SummaryBuilder {
  private transitions = 0;
  private readonly byTransition = new Map<string, number>();
  private readonly byEnding = new Map<Ending, number>();
  private closed = 0;
  private tx = 0;
  private rx = 0;

  addEvents(events: TransitionEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'transition') continue;
      this.transitions++;
      const key = `${stateName(e.oldstate)} -> ${stateName(e.newstate)}`;
      this.byTransition.set(key, (this.byTransition.get(key) ?? 0) + 1);
    }
  }

  addFinished(c: FinishedConnection): void {
    this.closed++;
    this.byEnding.set(c.ending, (this.byEnding.get(c.ending) ?? 0) + 1);
    this.tx += c.txBytes;
    this.rx += c.rxBytes;
  }

  build(start: TimedSnapshot, end: TimedSnapshot | undefined, endNs: number, counters: TracerCounters, connectionsDropped = 0): Summary {
    const sorted = <K extends string>(m: Map<K, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1])) as Record<K, number>;
    return {
      durationMs: Math.round((endNs - start.tsNs) / 1e6),
      transitions: this.transitions,
      byTransition: sorted(this.byTransition),
      connectionsClosed: this.closed,
      byEnding: sorted(this.byEnding),
      txBytes: this.tx,
      rxBytes: this.rx,
      socketsAtStart: countByState(start),
      socketsAtEnd: end ? countByState(end) : null,
      counters,
      connectionsDropped,
    };
  }
}
