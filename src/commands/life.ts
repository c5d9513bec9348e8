/** `tcptrace life`: every connection that ends, with its lifetime, bytes and ending. */
import { Clock } from '../clock';
import { endpointWidth } from '../format/event-text';
import { lifeHeader, lifeJson, lifeLine } from '../format/life';
import { FilterFlags, tracerOptions } from '../options';
import { LineOutput } from '../output';
import { TraceSession } from '../session';
import { ConnectionTracker } from '../tracker';
import { printCounters, reportLostLine, runUntilStopped } from './run';

export interface LifeFlags extends FilterFlags {
  json?: boolean;
  duration?: number;
  verbose?: boolean;
}

export async function runLife(flags: LifeFlags): Promise<void> {
  const session = TraceSession.open(tracerOptions(flags));
  const clock = new Clock();
  const width = endpointWidth(Boolean(flags.ipv6 && !flags.ipv4));
  let stop = (reason: string) => {};
  const out = new LineOutput(process.stdout, () => stop('output closed'));
  const pending: string[] = [];
  const tracker = new ConnectionTracker({
    onFinished: (c) => pending.push(flags.json ? JSON.stringify(lifeJson(c, clock)) : lifeLine(c, clock, width)),
  });
  tracker.loadSnapshot(session.snapshot().sockets, clock.nowNs());
  if (!flags.json) out.writeLines([lifeHeader(width)]);

  await runUntilStopped({
    session,
    durationSeconds: flags.duration,
    verbose: flags.verbose,
    bindStop: (fn) => { stop = fn; },
    handlers: {
      onEvents: (events) => {
        tracker.apply(events);
        out.writeLines(pending.splice(0));
      },
      onLost: (newlyLost, total) => reportLostLine(out, Boolean(flags.json), newlyLost, total),
    },
  });
  printCounters(session, Boolean(flags.verbose));
  await out.flush();
}
