/** Log2 histograms of durations, printed the way bcc's tools print them, so
 *  the output reads like funclatency or tcpconnlat. */

const BUCKETS = 64;
const TWO_32 = 2 ** 32;

/** Bucket 0 holds 0 and 1; bucket i holds [2^i, 2^(i+1) - 1]. */
function bucketOf(value: number): number {
  if (value < 2) return 0;
  if (value < TWO_32) return 31 - Math.clz32(value);
  // clz32 sees only 32 bits: look at the high word, and cap before it wraps.
  if (value >= 2 ** 63) return BUCKETS - 1;
  return 63 - Math.clz32(Math.floor(value / TWO_32));
}

const bucketLow = (i: number) => (i === 0 ? 0 : 2 ** i);
const bucketHigh = (i: number) => 2 ** (i + 1) - 1;

export interface Log2Bucket {
  low: number;
  high: number;
  count: number;
}

export class Log2Histogram {
  // Float64Array counts exactly up to 2^53, and add() allocates nothing.
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private totalSum = 0;

  add(value: number): void {
    // NaN or Infinity is a bug upstream, not a duration: keep it out of sum.
    if (!Number.isFinite(value)) return;
    // Clock skew between CPUs can make a tiny negative delta: that is "about
    // zero", so it counts as 0 rather than being lost.
    const v = value < 0 ? 0 : Math.floor(value);
    this.counts[bucketOf(v)]++;
    this.total++;
    this.totalSum += v;
  }

  /** Counts already bucketed the same way (the kernel's), and their values' sum. */
  addBuckets(counts: number[], sum: number): void {
    counts.forEach((n, i) => {
      this.counts[Math.min(i, BUCKETS - 1)] += n;
      this.total += n;
    });
    this.totalSum += sum;
  }

  get count(): number {
    return this.total;
  }

  /** Of the values as counted: floored, negatives as 0. */
  get sum(): number {
    return this.totalSum;
  }

  /** Index of the last non-empty bucket, -1 when empty. */
  private lastBucket(): number {
    for (let i = BUCKETS - 1; i >= 0; i--) if (this.counts[i]) return i;
    return -1;
  }

  /** Bucket 0 up to the last non-empty one, as bcc prints them. */
  buckets(): Log2Bucket[] {
    const out: Log2Bucket[] = [];
    const last = this.lastBucket();
    for (let i = 0; i <= last; i++) {
      out.push({ low: bucketLow(i), high: bucketHigh(i), count: this.counts[i] });
    }
    return out;
  }

  merge(other: Log2Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.totalSum += other.totalSum;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.totalSum = 0;
  }

  /** Upper bound of the bucket holding the p-th percentile: a histogram only
   *  knows the bucket, and the high end never understates a latency. */
  percentile(p: number): number | null {
    if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
    if (this.total === 0) return null;
    // p * total first: 7 * 100 / 100 is 7, where 0.07 * 100 is 7.000000000000001.
    const rank = Math.ceil((p * this.total) / 100);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return bucketHigh(i);
    }
    return bucketHigh(this.lastBucket());
  }
}

/** Exact decimal bounds: past 2^53 a number would print rounded. */
function boundLabels(i: number): [string, string] {
  const high = (1n << BigInt(i + 1)) - 1n;
  return [i === 0 ? '0' : String(1n << BigInt(i)), String(high)];
}

/** bcc's print_log2_hist: 10-digit bound columns, 20 once a bound needs more. */
export function renderLog2Histogram(h: Log2Histogram, unit: string, width = 40): string[] {
  const rows = h.buckets();
  if (!rows.length) return ['     (no samples)'];
  const field = boundLabels(rows.length - 1)[1].length > 10 ? 20 : 10;
  // The header's unit column spans "low -> high", less the indent.
  const indent = field === 10 ? 5 : 15;
  const lines = [`${' '.repeat(indent)}${unit.padEnd(2 * field + 4 - indent)} : count    distribution`];
  const maxCount = Math.max(...rows.map((b) => b.count));
  rows.forEach((b, i) => {
    const [low, high] = boundLabels(i);
    const stars = Math.floor((b.count * width) / maxCount);
    lines.push(
      `${low.padStart(field)} -> ${high.padEnd(field)} : ${String(b.count).padEnd(8)} ` +
        `|${'*'.repeat(stars)}${' '.repeat(width - stars)}|`,
    );
  });
  return lines;
}

export interface Log2HistogramJson {
  unit: string;
  count: number;
  sum: number;
  buckets: Log2Bucket[];
}

export function histogramJson(h: Log2Histogram, unit: string): Log2HistogramJson {
  return { unit, count: h.count, sum: h.sum, buckets: h.buckets() };
}

export const OTHER_KEY = '(other)';

/** One histogram per key (process, peer...), bounded: a scan over many peers
 *  must not grow memory without end, so keys past maxKeys share "(other)". */
export class KeyedHistograms {
  private readonly byKey = new Map<string, Log2Histogram>();

  constructor(private readonly maxKeys = 1000) {
    if (!Number.isInteger(maxKeys) || maxKeys < 0) {
      throw new RangeError(`maxKeys must be a non-negative integer, got ${maxKeys}`);
    }
  }

  add(key: string, value: number): void {
    this.histogramFor(key).add(value);
  }

  addBuckets(key: string, counts: number[], sum: number): void {
    if (counts.some((n) => n > 0)) this.histogramFor(key).addBuckets(counts, sum);
  }

  private histogramFor(key: string): Log2Histogram {
    const known = this.byKey.get(key);
    if (known) return known;
    // "(other)" itself does not take one of the maxKeys places.
    const named = this.byKey.size - (this.byKey.has(OTHER_KEY) ? 1 : 0);
    const target = named < this.maxKeys ? key : OTHER_KEY;
    let h = this.byKey.get(target);
    if (!h) this.byKey.set(target, (h = new Log2Histogram()));
    return h;
  }

  /** Busiest first; ties by key, so the order is stable between redraws. */
  entries(): [string, Log2Histogram][] {
    return [...this.byKey].sort(
      ([ka, a], [kb, b]) => b.count - a.count || (ka < kb ? -1 : ka > kb ? 1 : 0),
    );
  }

  reset(): void {
    this.byKey.clear();
  }

  get size(): number {
    return this.byKey.size;
  }
}
