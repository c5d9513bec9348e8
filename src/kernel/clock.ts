/**
 * Kernel timestamps are CLOCK_MONOTONIC nanoseconds, the clock Node's
 * process.hrtime reads too: one offset turns them into wall-clock time.
 */
export class Clock {
  /** Wall-clock ms at monotonic 0. */
  readonly wallOffsetMs: number;

  constructor(wallOffsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6) {
    this.wallOffsetMs = wallOffsetMs;
  }

  nowNs(): number {
    return Number(process.hrtime.bigint());
  }

  /** Unix epoch milliseconds (with microseconds as the fraction). */
  wallMs(monotonicNs: number): number {
    return Math.round((monotonicNs / 1e6 + this.wallOffsetMs) * 1000) / 1000;
  }

  /** "HH:MM:SS.mmm" in local time. */
  timeOfDay(monotonicNs: number): string {
    const d = new Date(this.wallMs(monotonicNs));
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
}
