/**
 * The five duration distributions tcptrace measures, split by a key if asked:
 * what `tcptrace hist` prints and the live view summarises.
 */
import { formatEndpoint } from '../kernel/addr';
import { KernelAggregates } from '../kernel/decoder';
import { histogramJson, KeyedHistograms, Log2HistogramJson } from './hist';
import { Connection, MeasureKind } from './tracker';

export const MEASURES: { kind: MeasureKind; title: string }[] = [
  { kind: 'connect', title: 'connect latency (SYN_SENT -> ESTABLISHED), client side' },
  { kind: 'accept', title: 'accept-queue wait (ESTABLISHED -> accept() returns it), server side' },
  { kind: 'lifetime', title: 'connection lifetime (birth -> CLOSE)' },
  { kind: 'closeWait', title: "time in CLOSE_WAIT: the peer's FIN -> the program closes" },
  { kind: 'finWait2', title: "time in FIN_WAIT2: our FIN acked -> the peer's FIN (or orphaned)" },
];

export type SplitBy = 'pid' | 'peer' | 'port';
export type Unit = 'us' | 'ms';

export const UNIT_LABEL: Record<Unit, string> = { us: 'usecs', ms: 'msecs' };
/** Also the kernel's unit for its own histograms (measureUnitNs). */
export const NS_PER: Record<Unit, number> = { us: 1e3, ms: 1e6 };

/** The key a measurement is filed under. A server's peers use ephemeral
 *  ports, so a server side is keyed by address (peer) or its own port. */
export function splitKey(by: SplitBy | undefined, conn: Connection): string {
  switch (by) {
    case 'pid': return conn.pid === null ? 'pid unknown' : `pid ${conn.pid} ${conn.comm ?? ''}`.trimEnd();
    case 'peer': return conn.role === 'server' ? conn.daddr : formatEndpoint(conn.daddr, conn.dport);
    case 'port': return `port ${conn.role === 'server' ? conn.sport : conn.dport}`;
    default: return '';
  }
}

export class LatencySet {
  private readonly byKind = new Map<MeasureKind, KeyedHistograms>();

  constructor(readonly unit: Unit, readonly by?: SplitBy) {
    for (const { kind } of MEASURES) this.byKind.set(kind, new KeyedHistograms());
  }

  add(kind: MeasureKind, ns: number, conn: Connection): void {
    this.byKind.get(kind)!.add(splitKey(this.by, conn), ns / NS_PER[this.unit]);
  }

  /** The kernel's own histograms, counted in this set's unit (not split: the kernel keeps no keys). */
  addAggregates(counted: KernelAggregates): void {
    if (this.by) throw new Error('LatencySet.addAggregates: the kernel\'s histograms are not split by a key');
    for (const { kind } of MEASURES) {
      const h = counted.histograms[kind];
      this.get(kind).addBuckets('', h.buckets, h.sum);
    }
  }

  get(kind: MeasureKind): KeyedHistograms {
    return this.byKind.get(kind)!;
  }

  reset(): void {
    for (const h of this.byKind.values()) h.reset();
  }

  toJson(): ({ name: MeasureKind; title: string; key: string | null } & Log2HistogramJson)[] {
    return MEASURES.flatMap(({ kind, title }) => this.get(kind).entries().map(([key, h]) => ({
      name: kind, title, key: this.by ? key : null, ...histogramJson(h, this.unit),
    })));
  }
}
