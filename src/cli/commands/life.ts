/** `tcptrace life`: every connection that ends, with its lifetime, bytes and ending. */
import { FilterFlags } from '../options';
import { printLife } from '../print';
import { RecordFlags, runLiveReport } from '../run';

export interface LifeFlags extends FilterFlags, RecordFlags {
  json?: boolean;
  duration?: number;
  verbose?: boolean;
}

export async function runLife(flags: LifeFlags): Promise<void> {
  const ipv6Only = Boolean(flags.ipv6 && !flags.ipv4);
  // The kernel sends each connection once, at its end (tcplife's way); --record keeps every transition.
  await runLiveReport(flags, { command: 'life', connectionsOnly: true }, (source, out) => printLife(source, { json: flags.json, ipv6Only }, flags, out));
}
