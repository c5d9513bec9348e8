/** `live --events`: one line per transition, tcpstates-like, with the right PID.
 *  A '*' after the new state marks a transition inferred from the next one. */
import { msColumn } from '../units';
import { formatEndpoint } from '../kernel/addr';
import { Clock } from '../kernel/clock';
import { TransitionEvent } from '../kernel/decoder';
import { stateName } from '../kernel/states';
import { PLAIN, Paint, STATE_HUE } from './colour';
import { ExtraColumns } from './extra-columns';

const ENDPOINT_V4 = 21; // 255.255.255.255:65535
const ENDPOINT_V6 = 47; // [ffff:...:ffff]:65535

export function endpointWidth(ipv6Only: boolean): number {
  return ipv6Only ? ENDPOINT_V6 : ENDPOINT_V4;
}

export function eventHeader(width: number, extra = ExtraColumns.none()): string {
  return [
    'TIME'.padEnd(12), 'PID'.padStart(7), 'COMM'.padEnd(15), ...extra.header(),
    'LADDR:LPORT'.padEnd(width), 'RADDR:RPORT'.padEnd(width),
    'OLDSTATE'.padEnd(11), '   NEWSTATE'.padEnd(14), 'MS'.padStart(10),
  ].join(' ');
}

export function eventLine(e: TransitionEvent, clock: Clock, width: number, extra = ExtraColumns.none(), paint: Paint = PLAIN): string {
  return [
    clock.timeOfDay(e.tsNs),
    (e.pid === null ? '-' : String(e.pid)).padStart(7),
    (e.comm ?? '-').padEnd(15),
    ...extra.cells(e),
    formatEndpoint(e.saddr, e.sport).padEnd(width),
    formatEndpoint(e.daddr, e.dport).padEnd(width),
    stateName(e.oldstate).padEnd(11),
    // Coloured once padded: the columns stay where they are.
    paint(STATE_HUE[stateName(e.newstate)], `-> ${stateName(e.newstate)}${e.inferred ? '*' : ''}`.padEnd(14)),
    msColumn(e.prevStateNs).padStart(10),
  ].join(' ');
}
