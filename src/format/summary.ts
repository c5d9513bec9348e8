/** `report summary` as text. */
import { OPEN_STATES, stateName, TCP } from '../kernel/states';
import { Summary } from '../model/summary';

const STATES_SHOWN = OPEN_STATES.filter((s) => s !== TCP.NEW_SYN_RECV).map(stateName);

export function renderSummary(s: Summary): string[] {
  const states = (counts: Record<string, number> | null) =>
    counts ? STATES_SHOWN.filter((n) => counts[n]).map((n) => `${n} ${counts[n]}`).join(', ') || 'none' : 'not recorded';
  return [
    `duration ${(s.durationMs / 1000).toFixed(1)} s, ${s.transitions} transitions, ${s.connectionsClosed} connections closed`,
    `  endings: ${Object.entries(s.byEnding).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  payload: ${s.txBytes} bytes sent, ${s.rxBytes} received (closed connections)`,
    `  sockets at start: ${states(s.socketsAtStart)}`,
    `  sockets at end:   ${states(s.socketsAtEnd)}`,
    `  lost ${s.counters.lostEvents}, inferred ${s.counters.inferred}, untracked sockets ${s.counters.untrackedSockets}` +
      `, connections dropped ${s.connectionsDropped}`,
    '  transitions:',
    ...Object.entries(s.byTransition).map(([k, v]) => `    ${String(v).padStart(8)}  ${k}`),
  ];
}
