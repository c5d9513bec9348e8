/**
 * `tcptrace serve`: a long-running agent. Prometheus metrics at /metrics
 * (defined in ../metrics.ts), /healthz while the BPF program is attached.
 * Counters and histograms follow every batch of transitions; the gauges
 * (sockets per state, CLOSE_WAIT holders) are refreshed every --interval.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { formatEndpoint, isLoopback } from '../../kernel/addr';
import { TcptraceError } from '../../errors';
import { durationBoundsNs, TcpMetrics } from '../../model/metrics';
import { ConnectionTracker } from '../../model/tracker';
import { gaugesNow } from '../../reports/metrics';
import { ListenDrops } from '../../model/listen-drops';
import { FilterFlags, ListenAddress } from '../options';
import { openLiveSource, printCounters } from '../run';

export interface ServeFlags extends FilterFlags {
  listen: ListenAddress;
  /** Seconds between refreshes of the gauges. */
  interval: number;
  /** Processes named in the CLOSE_WAIT holders gauge; the rest are summed. */
  top: number;
  verbose?: boolean;
}


/** What /healthz says: why the agent is not healthy, or null. */
class Health {
  attached = false;
  refreshError: string | null = null;

  problem(): string | null {
    if (!this.attached) return 'not attached';
    return this.refreshError ? `cannot refresh the gauges: ${this.refreshError}` : null;
  }
}

export async function runServe(flags: ServeFlags, version: string): Promise<void> {
  // Bound before the BPF program loads: a taken port fails fast, with nothing attached.
  const server = await listen(flags.listen);
  try {
    await serve(server, flags, version);
  } finally {
    await closeServer(server);
  }
}

async function serve(server: http.Server, flags: ServeFlags, version: string): Promise<void> {
  const health = new Health();
  let metrics: TcpMetrics | undefined;
  // Answers from now on: 503 until attached and refreshed once.
  server.on('request', (req, res) => handleRequest(req, res, health, metrics));

  // TIME_WAIT is counted by the kernel (stateCounts); snapshots need only full sockets.
  // Existing sockets get their kernel-side storage with the start snapshot, with
  // their ports and holders: a listener has lost its port by the time it closes,
  // so without it its LISTEN -> CLOSE would carry none (and miss --port).
  // The kernel counts the transitions and the histograms (against their fixed
  // buckets) itself, and sends no event; --cgroup picks events by owner: it needs them.
  const kernelCounts = !flags.cgroup;
  const source = openLiveSource(flags, {
    command: 'serve', emitAccepts: true, endSnapshot: false, everyNetns: true, onStopping: () => { health.attached = false; },
    aggregateOnly: kernelCounts, ownersUnneeded: kernelCounts, boundsNs: kernelCounts ? durationBoundsNs() : undefined,
  });
  const tcp = new TcpMetrics(version, () => ({ tracer: source.counters(), connectionsDropped: tracker.dropped }), source.aggregates);
  // Sockets open before the start are not loaded into the tracker: none of
  // their durations can be measured (their start was not seen), and a host may
  // hold 100,000 idle ones. Those that change state are followed from then on.
  const tracker = new ConnectionTracker({ onMeasure: (kind, ns) => tcp.observe(kind, ns) });
  const gauges = { pid: flags.pid, top: flags.top, listenDrops: new ListenDrops() };

  try {
    tcp.refresh(gaugesNow(source, gauges, () => source.start));
  } catch (err) {
    await source.close();
    throw err;
  }
  metrics = tcp;
  health.attached = true;
  const timer = setInterval(() => {
    if (health.attached) refreshReporting(() => tcp.refresh(gaugesNow(source, gauges)), health); // not while detaching
  }, flags.interval * 1000);

  const running = source.run({
    onEvents: (events) => {
      tcp.addEvents(events);
      tracker.apply(events);
    },
    onLost: (newlyLost, total) => {
      if (flags.verbose) process.stderr.write(`tcptrace: ${newlyLost} events lost (${total} in all)\n`);
    },
  });
  const exposed = listensOnLoopback(server) ? '' : ' (not loopback: whoever can reach this address can read them)';
  process.stderr.write(`tcptrace: serving metrics at ${urlOf(server)}/metrics${exposed}\n`);
  try {
    await running;
  } finally {
    clearInterval(timer);
  }
  printCounters(source.counters(), Boolean(flags.verbose));
}

/** A failed refresh makes /healthz fail and is said once on stderr, until one succeeds. */
function refreshReporting(refresh: () => void, health: Health): void {
  try {
    refresh();
    if (health.refreshError) process.stderr.write('tcptrace: refreshing the gauges works again\n');
    health.refreshError = null;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (health.refreshError === null) process.stderr.write(`tcptrace: cannot refresh the gauges: ${message}\n`);
    health.refreshError = message;
  }
}

function handleRequest(req: http.IncomingMessage, res: http.ServerResponse, health: Health, metrics?: TcpMetrics): void {
  const reply = (status: number, body: string, headers: http.OutgoingHttpHeaders = {}) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
  // Not new URL(): it throws on request targets like "//".
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/metrics':
      // Gauges are not valid before the first refresh, nor once detached.
      if (!metrics || !health.attached) return reply(503, 'not attached\n');
      metrics.registry.metrics().then(
        (text) => reply(200, text, { 'Content-Type': metrics.registry.contentType }),
        (err: Error) => reply(500, `cannot collect the metrics: ${err.message}\n`),
      );
      return;
    case '/healthz': {
      const problem = health.problem();
      return reply(problem ? 503 : 200, `${problem ?? 'ok'}\n`);
    }
    case '/':
      return reply(200, 'tcptrace serve: /metrics (Prometheus text format), /healthz\n');
    default:
      return reply(404, 'not found: try /metrics or /healthz\n');
  }
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use',
  EADDRNOTAVAIL: 'no such address on this host',
  EACCES: 'permission denied',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve (yet)',
};

function listen({ host, port }: ListenAddress): Promise<http.Server> {
  const server = http.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const reason = LISTEN_ERRORS[err.code ?? ''] ?? err.message;
      reject(new TcptraceError(`--listen: cannot listen on ${formatEndpoint(host, port)}: ${reason}`, 'ELISTEN'));
    });
    server.listen(port, host, () => resolve(server));
  });
}

function urlOf(server: http.Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${formatEndpoint(address, port)}`;
}

function listensOnLoopback(server: http.Server): boolean {
  return isLoopback((server.address() as AddressInfo).address);
}

/** Closes the listener and every open (keep-alive) connection: Prometheus keeps one open. */
function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
