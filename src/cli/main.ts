/** The command line: commander wiring only. Each command lives in commands/. */
import { Argument, Command, CommanderError, Option } from 'commander';
import { runCulprits } from './commands/culprits';
import { runDoctor } from './commands/doctor';
import { ExportFlags, runExport } from './commands/export';
import { runRecord } from './commands/record';
import { runHtmlReport } from './commands/html-report';
import { checkReportFlags, ReportFlags, ReportKind, runReport } from './commands/report';
import { runHist } from './commands/hist';
import { runLife } from './commands/life';
import { runLive } from './commands/live';
import type { ServeFlags } from './commands/serve';
import { runSnapshot, SnapshotFlags } from './commands/snapshot';
import { DEFAULT_CULPRITS_TOP } from '../format/culprits';
import { examplesText, symptomsText } from './help';
import { TcptraceError, usageError } from '../errors';
import { OutputClosed } from '../output-file';
import { DEFAULT_RING_BYTES } from '../kernel/decoder';
import { RECORD_FORMATS } from '../trace/recording';
import {
  checkNotInput, parseAnyPorts, parseRecordedCgroup, parseCgroup, parseComms, parseCount, parseListen, parseNetns, parseOutputPath, parsePids, parsePorts, SERVE_DEFAULTS,
  parseRefreshInterval, parseRingBufferSize, parseSeconds, parseStates,
} from './options';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { version } = require('../../../package.json') as { version: string };

function addFilterOptions(command: Command): Command {
  return command
    .option('-p, --pid <pids>', 'only sockets owned by these PIDs (comma list, up to 8)', (v, prev?: number[]) => parsePids(v, prev))
    .option('-P, --port <ports>', 'only sockets with this local or remote port (comma list, up to 8)', (v, prev?: number[]) => parsePorts(v, prev))
    .option('-s, --state <states>', 'only transitions from or to these states (e.g. CLOSE_WAIT,TIME_WAIT)', (v, prev?: number[]) => parseStates(v, prev))
    .addOption(new Option('-4, --ipv4', 'IPv4 sockets only').conflicts('ipv6'))
    .addOption(new Option('-6, --ipv6', 'IPv6 sockets only').conflicts('ipv4'))
    .option('--netns <netns>', 'only these network namespaces: inode, name from "ip netns", or pid:PID (comma list, up to 8)',
      (v, prev?: number[]) => parseNetns(v, prev))
    .addOption(cgroupOption('only sockets whose owner runs in this cgroup or below it'))
    .addOption(new Option('--ring-buffer <size>', 'kernel ring buffer size, a power of two (64K-1G)').argParser(parseRingBufferSize).default(DEFAULT_RING_BYTES, `${DEFAULT_RING_BYTES >> 20}M`))
    .option('-v, --verbose', 'say more, and on failure print the kernel\'s own reason (verifier log)');
}

/**
 * bcc's tcpstates and tcplife flags, for their users: -T (the time column)
 * is always there, so it is taken and changes nothing; -L and -D (local,
 * remote ports) are answered with tcptrace's -P, which matches either end.
 */
function addBccFlags(command: Command): Command {
  const answer = (bcc: string, what: string) => (value: string) => {
    throw usageError(`${bcc} is bcc's ${what} filter: tcptrace's is -P ${value} (the local or the remote port; comma list, up to 8)`);
  };

  return command
    .addOption(new Option('-T, --time', "bcc's time column: tcptrace always prints it").hideHelp())
    .addOption(new Option('-L, --local-port <ports>', "bcc's local port filter").hideHelp().argParser(answer('-L/--local-port', 'local port')))
    .addOption(new Option('-D, --remote-port <ports>', "bcc's remote port filter").hideHelp().argParser(answer('-D/--remote-port', 'remote port')));
}

function cgroupOption(description: string): Option {
  return new Option('--cgroup <path>', `${description}: a path under the cgroup2 mount, or a container id prefix`)
    .argParser(parseCgroup);
}

function addRecordOption(command: Command): Command {
  return command
    .option('-r, --record <file>', 'also record the trace to this file (a binary capture; JSON Lines for a .jsonl, .json or .gz name)', (v) => parseOutputPath('--record', v))
    .addOption(new Option('--record-format <format>', 'binary capture, JSON Lines or one JSON document (default: by the name)').choices(RECORD_FORMATS));
}

function addRunOptions(command: Command, jsonHelp: string): Command {
  return command
    .option('-j, --json', jsonHelp)
    .option('-d, --duration <seconds>', 'stop after this many seconds', (v) => parseSeconds('--duration', v));
}

export function buildProgram(): Command {
  const program = new Command('tcptrace')
    .description('eBPF TCP socket tracer: every state transition, with the process that owns it')
    .version(version)
    .exitOverride()
    // Commander's own errors, as one line like ours: "tcptrace: ..." and a hint.
    .configureOutput({
      outputError: (text, write) => write(`tcptrace: ${text.trim().replace(/^error: /, '')} (run with --help for usage)\n`),
    });

  addBccFlags(addFilterOptions(addRunOptions(
    program.command('live')
      .description('show every TCP state transition on this host as it happens')
      .addOption(new Option('-e, --events', 'one line per transition (default when stdout is not a terminal)').conflicts('json'))
      .option('--top <n>', 'rows per table in the live view', (v) => parseCount('--top', v)),
    'newline-delimited JSON, one object per transition',
  ))).action(runLive);

  addBccFlags(addRecordOption(addFilterOptions(addRunOptions(
    program.command('life')
      .description('one line per connection that ends: owner, endpoints, bytes, lifetime, how it ended'),
    'newline-delimited JSON, one object per connection',
  )))).action(runLife);

  addRecordOption(addFilterOptions(addRunOptions(
    program.command('hist')
      .description('log2 histograms: connect latency, accept-queue wait, lifetime, time in CLOSE_WAIT and FIN_WAIT2')
      .addOption(new Option('-b, --by <key>', 'one histogram per key').choices(['pid', 'peer', 'port']))
      .option('-i, --interval <seconds>', 'print and reset every interval', (v) => parseSeconds('--interval', v))
      .addOption(new Option('-u, --unit <unit>', 'time unit').choices(['us', 'ms']).default('us')),
    'one JSON object per print, buckets as numbers',
  ))).action(runHist);

  addRecordOption(program.command('culprits')
    .description('per process, the sockets it holds in CLOSE_WAIT: since when, to which peers, and why')
    .option('-d, --duration <seconds>', `observe this long, then report (default ${5} s)`, (v) => parseSeconds('--duration', v))
    .option('-w, --watch', 'report again every interval until Ctrl-C')
    .option('-i, --interval <seconds>', 'with --watch: seconds between reports (default 2)', (v) => parseSeconds('--interval', v))
    .option('--min-age <seconds>', 'leave out sockets in CLOSE_WAIT for less than this (about to be closed)', (v) => parseSeconds('--min-age', v))
    .option('-p, --pid <pids>', 'only these holder PIDs (comma list)', (v, prev?: number[]) => parsePids(v, prev))
    .option('-P, --port <ports>', 'only sockets with this local or remote port (comma list, up to 8)', (v, prev?: number[]) => parsePorts(v, prev))
    .option('--comm <names>', 'only holders whose process name contains one of these (comma list)', (v, prev?: string[]) => parseComms(v, prev))
    .addOption(new Option('--sort <key>', 'processes and groups with the most sockets first, or the oldest socket first').choices(['count', 'age']).default('count'))
    .addOption(cgroupOption('only holders in this cgroup or below it'))
    .option('--top <n>', `processes, groups and sockets shown per process (default ${DEFAULT_CULPRITS_TOP}; --json lists all)`, (v) => parseCount('--top', v, 1_000_000))
    .option('-j, --json', 'one JSON report')
    .addOption(new Option('--ring-buffer <size>', 'kernel ring buffer size, a power of two (64K-1G)').argParser(parseRingBufferSize))
    .option('-v, --verbose', 'say more, and on failure print the kernel\'s own reason'))
    .action(runCulprits);

  program.command('snapshot')
    .description('the TCP sockets of this network namespace now: per state (as ss counts them), process, peer and port; ephemeral port use per destination')
    .argument('[filter...]', "ss's filter words: state NAME (close-wait, time-wait, connected, ...), sport = :N, dport = :N")
    .option('-s, --state <states>', 'only sockets in these states or ss groups (close-wait,TIME_WAIT,connected)', (v, prev?: number[]) => parseStates(v, prev))
    .option('-P, --port <ports>', 'only sockets with this local or remote port (comma list)', (v, prev?: number[]) => parseAnyPorts('--port', v, prev))
    .option('--sport <ports>', 'only sockets with this local port (comma list)', (v, prev?: number[]) => parseAnyPorts('--sport', v, prev))
    .option('--dport <ports>', 'only sockets with this remote port (comma list)', (v, prev?: number[]) => parseAnyPorts('--dport', v, prev))
    .addOption(new Option('-b, --by <key>', 'print only this breakdown, in full').choices(['state', 'pid', 'peer', 'port']))
    .option('--top <n>', 'rows per table when every breakdown is printed (default 10)', (v) => parseCount('--top', v, 1_000_000))
    .option('-j, --json', 'one JSON object')
    .option('-v, --verbose', 'say how long reading and counting took, and on failure the kernel\'s own reason')
    .action((filter: string[], flags: SnapshotFlags) => runSnapshot({ ...flags, filter }));

  program.command('doctor')
    .description('observe for a few seconds, read the TCP settings and counters, and report TIME_WAIT, CLOSE_WAIT and listen-queue findings with evidence and what to do (changes nothing)')
    .option('-d, --duration <seconds>', `observe this long (default ${5} s)`, (v) => parseSeconds('--duration', v))
    .option('-j, --json', 'one JSON object')
    .option('-v, --verbose', 'say more, and on failure print the kernel\'s own reason')
    .action(runDoctor);

  addFilterOptions(
    program.command('record')
      .description('record transitions, owners and snapshots to a file, for report and export (docs/trace-format.md)')
      .requiredOption('-o, --output <file>', 'the trace file: a binary capture, or JSON Lines for a .jsonl, .json or .gz name (.gz compresses) or - (stdout)', (v) => parseOutputPath('--output', v))
      .addOption(new Option('--format <format>', 'binary capture, JSON Lines or one JSON document (default: by the name)').choices(RECORD_FORMATS))
      .option('-d, --duration <seconds>', 'stop after this many seconds', (v) => parseSeconds('--duration', v)),
  ).action(runRecord);

  addFilterOptions(
    program.command('serve')
      .description('long-running agent: Prometheus metrics at /metrics, /healthz while attached')
      .addOption(new Option('-l, --listen <host:port>', 'address to serve on ([::1]:PORT for IPv6; port 0: any free one)')
        .argParser(parseListen).default(parseListen(SERVE_DEFAULTS.listen), SERVE_DEFAULTS.listen))
      .addOption(new Option('-i, --interval <seconds>', 'seconds between refreshes of the gauges (sockets per state, CLOSE_WAIT holders)')
        .argParser((v) => parseRefreshInterval('--interval', v)).default(SERVE_DEFAULTS.intervalSeconds))
      .addOption(new Option('--top <n>', 'series (process and service) named in tcptrace_close_wait_held_sockets; the rest are summed under pid="other"')
        .argParser((v) => parseCount('--top', v)).default(SERVE_DEFAULTS.top)),
  // Loaded only when run: prom-client alone adds 30 ms to every command's start.
  ).action(async (flags: ServeFlags) => (await import('./commands/serve')).runServe(flags, version));

  program.command('report')
    .description('make a report again from a recorded trace')
    .argument('<file>', 'a trace written by tcptrace record (or --record)')
    .addArgument(new Argument('[report]', 'which report').choices(['summary', 'life', 'hist', 'culprits']).default('summary'))
    .option('-j, --json', 'JSON, as the live command prints it')
    .addOption(new Option('-b, --by <key>', 'hist: one histogram per key').choices(['pid', 'peer', 'port']))
    .addOption(new Option('-u, --unit <unit>', 'hist: time unit (default: us)').choices(['us', 'ms']))
    .option('--min-age <seconds>', 'culprits: leave out sockets younger than this', (v) => parseSeconds('--min-age', v))
    .option('-p, --pid <pids>', 'culprits: only these holder PIDs', (v, prev?: number[]) => parsePids(v, prev))
    .option('-P, --port <ports>', 'culprits: only sockets with this local or remote port', (v, prev?: number[]) => parsePorts(v, prev))
    .option('--comm <names>', 'culprits: only holders whose process name contains one of these', (v, prev?: string[]) => parseComms(v, prev))
    .addOption(new Option('--sort <key>', 'culprits: the most sockets first, or the oldest first (default count)').choices(['count', 'age']))
    .option('--top <n>', `culprits: processes, groups and sockets shown per process (default ${DEFAULT_CULPRITS_TOP})`, (v) => parseCount('--top', v, 1_000_000))
    .option('-N, --netns <list>', 'only these network namespaces: inodes, ip netns names or pid:PID (as live)', (v, prev?: number[]) => parseNetns(v, prev))
    .option('--cgroup <path>', 'only owners in this cgroup or below, by the recording\'s cgroup names (as /proc/PID/cgroup shows them)', (v) => parseRecordedCgroup(v))
    .option('--html', 'one self-contained HTML page of everything (needs -o)')
    .option('-o, --output <file>', 'with --html: where to write the page (- for stdout)', (v) => parseOutputPath('--output', v))
    .action((file: string, report: ReportKind, flags: ReportFlags & { html?: boolean; output?: string }) => {
      checkReportFlags(report, flags);
      if (!flags.html) return runReport(file, report, flags);
      checkNotInput('--output', flags.output!, file);
      return runHtmlReport(file, flags.output!, { netns: flags.netns, cgroup: flags.cgroup });
    });

  program.command('export')
    .description('convert a recorded trace for other tools')
    .argument('<file>', 'a trace written by tcptrace record')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['perfetto']).default('perfetto'))
    .addOption(new Option('--jsonl', 'JSON Lines instead: one object per transition, as live --json prints it (to stdout without -o)').conflicts('format'))
    .option('-o, --output <file>', 'where to write it (open a Perfetto trace in ui.perfetto.dev; - for stdout)', (v) => parseOutputPath('--output', v))
    .action((file: string, flags: ExportFlags) => {
      if (flags.output) checkNotInput('--output', flags.output, file);
      return runExport(file, flags);
    });

  for (const command of program.commands) command.addHelpText('after', examplesText(command.name()));
  program.addHelpText('after', symptomsText());
  return program;
}

function fail(err: unknown, verbose: boolean): never {
  // The reader of our output has gone (`| head -1`): done, as cat and ss are. Help and
  // other writes made outside a LineOutput meet it as stdout's EPIPE.
  if (err instanceof OutputClosed || (err as NodeJS.ErrnoException)?.code === 'EPIPE') process.exit(0);
  if (err instanceof CommanderError) {
    // Commander has printed its own one-line message (or the help).
    const benign = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
    process.exit(benign ? 0 : 2);
  }
  if (err instanceof TcptraceError) {
    process.stderr.write(`tcptrace: ${err.message}\n`);
    if (verbose && err.details) process.stderr.write(`${err.details.trimEnd()}\n`);
    process.exit(err.exitCode);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`tcptrace: internal error: ${message}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}

export function main(argv: string[]): void {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  process.on('uncaughtException', (err) => fail(err, verbose));
  buildProgram()
    .parseAsync(argv)
    .then(() => process.exit(0), (err) => fail(err, verbose));
}
