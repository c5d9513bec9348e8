/**
 * How tcptrace writes numbers for people: durations, counts and shares, and
 * text too long for a line. One place, so every report, view and page writes
 * the same value the same way.
 */

/** A duration in ns as milliseconds with 3 decimals ("1234.567"), as the per-event columns show it; "-" for none. */
export function msColumn(ns: number | null): string {
  return ns === null ? '-' : (ns / 1e6).toFixed(3);
}

/** A duration in ms: "999 ms", "1.0 s", "15.2 s". */
export function formatSeconds(ms: number): string {
  const whole = Math.round(ms); // 999.6 is "1.0 s", not "1000 ms"
  return whole < 1000 ? `${whole} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A longer duration in ms: 850 ms, 12.3 s, 4 min 05 s, 2 h 07 min. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 60_000) return formatSeconds(ms);
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A duration in µs, short for a narrow column: "850us", "1.2ms", "3.4s". */
export function formatMicros(us: number): string {
  if (us < 1000) return `${us}us`;
  if (us < 1e6) return `${(us / 1e3).toFixed(1)}ms`;
  return `${(us / 1e6).toFixed(1)}s`;
}

/** 12345 -> "12,345" */
export function thousands(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 0.1234 -> "12.3%" */
export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** A line cut to `width` columns, "..." marking the cut; a width of 0 or less leaves it whole. */
export function clip(line: string, width: number): string {
  if (width <= 0 || line.length <= width) return line;
  return width <= 3 ? line.slice(0, width) : `${line.slice(0, width - 3)}...`;
}
