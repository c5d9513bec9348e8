/** TCP states as the kernel numbers them (include/net/tcp_states.h). */
export const TCP_STATES = [
  '', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE',
] as const;

export type TcpStateName = Exclude<(typeof TCP_STATES)[number], ''>;

export const TCP = {
  ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT1: 4, FIN_WAIT2: 5, TIME_WAIT: 6,
  CLOSE: 7, CLOSE_WAIT: 8, LAST_ACK: 9, LISTEN: 10, CLOSING: 11, NEW_SYN_RECV: 12,
} as const;

/** The states a socket is counted in, in the kernel's order (as ss prints them): ESTABLISHED to NEW_SYN_RECV. */
export const COUNTED_STATES: readonly number[] = Object.values(TCP);

/** The states ss prints (it counts request sockets in SYN_RECV). */
export const SS_STATES: readonly number[] = COUNTED_STATES.filter((s) => s !== TCP.NEW_SYN_RECV);

/** The live view's and summaries' order: the connection's way from open to closed, then listeners and
 *  request sockets; CLOSE is left out (no socket stays in it). */
export const OPEN_STATES: readonly number[] = [
  TCP.ESTABLISHED, TCP.SYN_SENT, TCP.SYN_RECV, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.TIME_WAIT,
  TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSING, TCP.LISTEN, TCP.NEW_SYN_RECV,
];

export function stateName(state: number): string {
  return TCP_STATES[state] || `STATE_${state}`;
}

/** Parses a state name as users type it ("close-wait", "CLOSE_WAIT", "time_wait"). */
export function parseStateName(text: string): number | undefined {
  const wanted = text.trim().toUpperCase().replace(/-/g, '_');
  const index = TCP_STATES.indexOf(wanted as TcpStateName);
  return index > 0 ? index : undefined;
}

/** How long a socket stays in TIME_WAIT: TCP_TIMEWAIT_LEN (include/net/tcp.h), which no sysctl changes. */
export const TIME_WAIT_SECONDS = 60;

export const AF_INET = 2;
export const AF_INET6 = 10;
