/** Text of `tcptrace hist`: bcc's print_log2_hist look, one block per distribution and key. */
import { renderLog2Histogram } from '../model/hist';
import { LatencySet, MEASURES, UNIT_LABEL } from '../model/latency';
import { StillInState } from '../model/still-in-state';
import { formatSeconds, thousands } from '../units';

/** "10 still in CLOSE_WAIT at the end, oldest 4.0 s (not counted above)"; null when none is. */
export function stillInStateLine(s: StillInState): string | null {
  if (s.count === 0) return null;
  const oldest = s.oldestMs === null ? '' : `, oldest ${s.oldestIsLowerBound ? '>=' : ''}${formatSeconds(s.oldestMs)}`;
  const where = s.state === 'open' ? 'still open' : `still in ${s.state}`;
  return `${thousands(s.count)} ${where} at the end${oldest} (not counted above)`;
}

export function renderLatencySet(set: LatencySet, stillIn: StillInState[] = []): string[] {
  const lines: string[] = [];
  for (const { kind, title } of MEASURES) {
    const entries = set.get(kind).entries();
    lines.push('', title);
    if (entries.length === 0) lines.push('     (no samples)');
    for (const [key, h] of entries) {
      if (set.by) lines.push('', `${key}  (${h.count} samples)`);
      lines.push(...renderLog2Histogram(h, UNIT_LABEL[set.unit]));
    }
    const still = stillIn.find((s) => s.name === kind);
    const line = still && stillInStateLine(still);
    if (line) lines.push(`     ${line}`);
  }
  return lines;
}
