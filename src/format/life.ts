/** `tcptrace life`: one line (or JSON object) per finished connection, tcplife-like. */
import { msColumn } from '../units';
import { constants } from 'node:os';
import { formatEndpoint } from '../kernel/addr';
import { CgroupNames } from '../host/cgroups';
import { Clock } from '../kernel/clock';
import { shortContainerId } from '../host/containers';
import { FinishedConnection } from '../model/tracker';
import { ExtraColumns } from './extra-columns';

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, code]) => [code, name]));

export function errnoName(code: number): string | null {
  return code ? ERRNO_NAMES.get(code) ?? `errno ${code}` : null;
}

/** "1234.567", or ">1234.567" when the connection began before tracing. */
export function lifetimeText(c: FinishedConnection): string {
  return `${c.lifetimeIsLowerBound ? '>' : ''}${msColumn(c.lifetimeNs)}`;
}

/** "active", or "active +TIME_WAIT*" where the kernel keeps an untraced timewait socket;
 *  a reset says whose: "reset by peer", "reset sent: TCP_ABORT_ON_CLOSE". */
export function endingText(c: FinishedConnection): string {
  if (c.ending === 'reset' && c.reset === 'received') return 'reset by peer';
  if (c.ending === 'reset' && c.reset === 'sent') return c.resetReason ? `reset sent: ${c.resetReason}` : 'reset sent';
  return c.afterlife ? `${c.ending} +${c.afterlife}*` : c.ending;
}

export function lifeHeader(width: number, extra = ExtraColumns.none()): string {
  return [
    'TIME'.padEnd(12), 'PID'.padStart(7), 'COMM'.padEnd(15), ...extra.header(), 'LADDR:LPORT'.padEnd(width), 'RADDR:RPORT'.padEnd(width),
    'TX_BYTES'.padStart(10), 'RX_BYTES'.padStart(10), 'MS'.padStart(11), 'END',
  ].join(' ');
}

export function lifeLine(c: FinishedConnection, clock: Clock, width: number, extra = ExtraColumns.none()): string {
  return [
    clock.timeOfDay(c.endNs),
    (c.pid === null ? '-' : String(c.pid)).padStart(7),
    (c.comm ?? '-').padEnd(15),
    ...extra.cells(c),
    formatEndpoint(c.saddr, c.sport).padEnd(width),
    formatEndpoint(c.daddr, c.dport).padEnd(width),
    String(c.txBytes).padStart(10),
    String(c.rxBytes).padStart(10),
    lifetimeText(c).padStart(11),
    endingText(c),
  ].join(' ');
}

const round3 = (ns: number) => Math.round(ns / 1e3) / 1e3;

export function lifeJson(c: FinishedConnection, clock: Clock, cgroups: CgroupNames): Record<string, unknown> {
  return {
    ts: clock.wallMs(c.endNs),
    sk: c.sockId,
    family: c.family,
    saddr: c.saddr,
    sport: c.sport,
    daddr: c.daddr,
    dport: c.dport,
    pid: c.pid,
    comm: c.comm,
    ownerSource: c.ownerSource,
    netns: c.netns,
    cgroupId: c.cgroupId,
    cgroup: cgroups.pathOf(c.cgroupId, c.pid),
    container: shortContainerId(cgroups.containerOf(c.cgroupId, c.pid)),
    role: c.role,
    txBytes: c.txBytes,
    rxBytes: c.rxBytes,
    lifetimeMs: round3(c.lifetimeNs),
    lifetimeIsLowerBound: c.lifetimeIsLowerBound,
    ending: c.ending,
    closedFirst: c.closedFirst,
    error: errnoName(c.error),
    reset: c.reset,
    resetReason: c.resetReason,
    // Never a transition: tcptrace infers it from how the socket ended.
    afterlife: c.afterlife,
    stateMs: Object.fromEntries(Object.entries(c.dwellNs).map(([state, ns]) => [state, round3(ns)])),
  };
}
