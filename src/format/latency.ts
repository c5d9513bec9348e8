/** Text of `tcptrace hist`: bcc's print_log2_hist look, one block per distribution and key. */
import { renderLog2Histogram } from '../model/hist';
import { LatencySet, MEASURES, UNIT_LABEL } from '../model/latency';

export function renderLatencySet(set: LatencySet): string[] {
  const lines: string[] = [];
  for (const { kind, title } of MEASURES) {
    const entries = set.get(kind).entries();
    lines.push('', title);
    if (entries.length === 0) lines.push('     (no samples)');
    for (const [key, h] of entries) {
      if (set.by) lines.push('', `${key}  (${h.count} samples)`);
      lines.push(...renderLog2Histogram(h, UNIT_LABEL[set.unit]));
    }
  }
  return lines;
}
