/** Text and JSON of `tcptrace doctor`. */
import { Finding, Severity } from '../model/findings';
import { HostSettings, SYSCTLS } from '../host/settings';
import { SnapshotReport } from '../model/snapshot-report';
import { DoctorReport } from '../reports/doctor';
import { netnsText } from './snapshot';
import { formatSeconds, thousands } from '../units';
import { Paint, PLAIN, SEVERITY_HUE } from './colour';
import { wrap } from './table';

const LABEL: Record<Severity, string> = { problem: 'PROBLEM', warning: 'WARNING', note: 'NOTE' };

function socketLine(s: SnapshotReport): string {
  const states = Object.entries(s.states).filter(([, n]) => n > 0).map(([state, n]) => `${state} ${thousands(n)}`);
  return `Sockets now: ${thousands(s.sockets)}${states.length ? ` (${states.join(', ')})` : ''}; ` +
    `ephemeral ports ${s.ephemeral.low}-${s.ephemeral.high} (${thousands(s.ephemeral.usable)} usable per local address and destination)`;
}

/** Each finding wrapped to the width, its continuation lines indented under their start; the label coloured. */
function findingBlock(f: Finding, paint: Paint, width: number): string[] {
  const label = `[${LABEL[f.severity]}]`;
  const [first, ...rest] = wrap(`${f.category}: ${f.title}`, width, `${label} `, '    ');
  return [
    paint(SEVERITY_HUE[f.severity], label) + first.slice(label.length), ...rest,
    ...f.evidence.flatMap((e) => wrap(e, width, '    - ', '      ')),
    ...wrap(f.action, width, '  => ', '     '),
    '',
  ];
}

/** width: the terminal's columns (0: no limit). */
export function renderDoctor(r: DoctorReport, paint: Paint = PLAIN, width = 0): string[] {
  const count = (severity: Severity) => r.findings.filter((f) => f.severity === severity).length;
  const head = `tcptrace doctor: observed ${formatSeconds(r.observedMs)} in ${netnsText(r.settings.netns)}, kernel ${r.settings.kernel}; ` +
    `${r.findings.length} finding(s): ${count('problem')} problem(s), ${count('warning')} warning(s), ${count('note')} note(s). ` +
    'Nothing on the host was changed.';
  const body = r.findings.length
    ? r.findings.flatMap((f) => findingBlock(f, paint, width))
    : [...wrap('No findings: no TIME_WAIT or CLOSE_WAIT pile-up, no listen-queue or SYN-queue overflow, no setting this data bears on.', width, '', ''), ''];
  return [...wrap(head, width, '', '  '), '', ...wrap(socketLine(r.sockets), width, '', '  '), '', ...body].slice(0, -1);
}

export function doctorJson(r: DoctorReport): Record<string, unknown> {
  return {
    observedMs: Math.round(r.observedMs),
    netns: r.settings.netns,
    kernel: r.settings.kernel,
    changedNothing: true,
    sockets: { total: r.sockets.sockets, states: r.sockets.states, timewaitSockets: r.sockets.timewaitSockets, requestSockets: r.sockets.requestSockets },
    sysctls: Object.fromEntries(SYSCTLS.map((name) => [name, r.settings.sysctls[name]])),
    findings: r.findings,
  };
}
