/**
 * `npm run bench`: the project's reference loopback storm (../shared/bench/storm.c;
 * bench/tcpstorm.c when ../shared is absent, said so in the output) run with no
 * tracer, under each tcptrace mode, and under the peer (bpftrace's bare in-kernel
 * count on sock:inet_sock_set_state), in one run, 3 rounds in alternating order,
 * medians. Prints ratios measured side by side, never compared with absolute
 * thresholds; then, per row, what each of its BPF programs (each attach point)
 * costs: runs per connection, ns per run and per transition (bpf_stats).
 *
 *   npm run bench -- [--seconds 5] [--rounds 3] [--server-closes-first] [--modes a,b]
 *                    [--rate N|P%[,...]] [--hold N]
 *   npm run bench -- --netns-cost [--namespaces 100] [--rounds 3] [--seconds 5]
 *   npm run bench -- --reset-cost [--rounds 3] [--seconds 5]
 * --rate paces the storm: at N connections per second, or at P % of the untraced
 * full rate (measured first, in the same run); a list gives one table per pace.
 * --hold N keeps N idle loopback connections (2N sockets) open through every
 * run (bench/tcphold.c), to show what many live sockets cost.
 * --netns-cost runs, instead of the storms, what the walks over every network
 * namespace cost (count_states in each, snapshot_socks in each, the file tables
 * of every task once, and snapshotOnce with and without everyNetns): with none
 * of the bench's namespaces, with --namespaces of them filled by bench/nsfill.c,
 * and with those plus a --seconds storm's TIME_WAIT sockets in the host's own;
 * --rounds repetitions each, medians. It removes its namespaces however it ends.
 * --reset-cost runs, instead of the storms, bench/tcpstorm.c --abort (the client
 * closes every connection with a RST) untraced and under the modes that load the
 * reset programs, alternating, medians: what following a RST costs, per program.
 * Needs root (BPF). Turns kernel.bpf_stats_enabled on for the run, and raises
 * net.ipv4.tcp_max_tw_buckets (each storm leaves tens of thousands of TIME_WAIT
 * sockets for 60 s; past the limit the kernel answers with RSTs instead), then
 * puts both back. Mounts tracefs if nobody has (bpftrace reads tracepoints there).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Column, renderMarkdownTable } from '../src/format/table';
import { FILE_REC_LAYOUT, SOCK_REC_LAYOUT } from '../src/kernel/decoder';
import { ensureTracefs } from '../src/kernel/preflight';
import { TraceSession } from '../src/kernel/session';
import { listNetns, NetnsEntry, ownNetns } from '../src/host/netns';
import {
  addNamespaces, BENCH_NETNS_PREFIX, benchNamespaces, buildLoadGenerators, Generator, holdConnections, NetnsFill, pickGenerator,
  removeBenchNamespaces, ROOT, runStorm, startFiller, StormOptions, StormRun, TCPSTORM, TRANSITIONS_PER_ABORTED_CONNECTION,
  TRANSITIONS_PER_CONNECTION, transitions,
} from './generators';

export const CLI = path.join(ROOT, 'bin', 'tcptrace');

const OUR_PROGRAMS = [
  'on_set_state', 'on_set_state_nested', 'on_send', 'on_recv', 'on_accept4_exit', 'on_accept_exit',
  'on_send_reset', 'on_send_reset_no_reason', 'on_receive_reset', 'on_destroy_sock',
];
const PEER = 'bpftrace';
const PEER_PROGRAM = 'tracepoint:sock:inet_sock_set_state { @[args->oldstate, args->newstate] = count(); }';
const PEER_TRACEPOINT = 'inet_sock_set_state';
const PEER_STOP_RETRY_MS = 5000;
/** TCP_CLOSE and TCP_LISTEN: a listener's own transitions, left out of the per-connection count. */
const LISTENER_STATES = new Set([7, 10]);
const ATTACH_TIMEOUT_MS = 30_000;
const DRAIN_MS = 500;

/** The record row's file: a binary capture (record's default), its size per transition a column. */
const RECORD_FILE = path.join(os.tmpdir(), 'tcptrace-bench.tcap');

export interface Mode {
  name: string;
  args?: string[];
  /** Run in a pseudo-terminal (util-linux `script`): the live view draws only on one. */
  terminal?: boolean;
}

/** untraced, then tcptrace's modes (the soak takes those with args). */
export const MODES: Mode[] = [
  { name: 'untraced' },
  { name: 'live (view)', args: ['live'], terminal: true },
  { name: 'live --json', args: ['live', '--json'] },
  { name: 'live --events', args: ['live', '--events'] },
  { name: 'life', args: ['life'] },
  { name: 'hist', args: ['hist'] },
  { name: 'culprits', args: ['culprits', '-d', '3600'] },
  { name: 'record', args: ['record', '-o', RECORD_FILE] },
  { name: 'serve', args: ['serve', '-l', '127.0.0.1:0'] },
];

/** One BPF program's runs and run time (bpf_stats), or what they grew by over a storm. */
export interface ProgramRun {
  /** As bpftool shows it. */
  name: string;
  runs: number;
  ns: number;
}

export interface Sample extends StormRun {
  lost?: number;
  inferred?: number;
  /** bpftrace only: the transitions its count saw, listeners' left out. */
  counted?: number;
  cpuSeconds?: number;
  /** The tracer's event programs' run time over the storm, per transition: the sum of `programs`. */
  bpfNs?: number;
  /** Each event program's runs and run time over the storm. */
  programs?: ProgramRun[];
  attachMs?: number;
  rssMb?: number;
  /** record only: the file's bytes over the storm's transitions. */
  bytesPerTransition?: number;
  /** The RSTs this network namespace sent over the storm (TcpOutRsts): the storm's, and any other socket's. */
  resetsSent?: number;
}

/** A tracer attached for one storm. */
interface Attached {
  pid: number;
  attachMs: number;
  /** The ids of its event programs, whose run time bpf_stats adds up. */
  programIds(): Set<number>;
  /** Ends it; resolves with what it says at exit. */
  stop(): Promise<Pick<Sample, 'lost' | 'inferred' | 'counted'>>;
  kill(): void;
}

/** What a row of the table runs the storm under. */
interface Tracer {
  name: string;
  /** Absent: the untraced row. */
  attach?(): Promise<Attached>;
}

interface Options {
  seconds: number;
  rounds: number;
  serverClosesFirst: boolean;
  modes: string[];
  paces: Pace[];
  hold: number;
  /** Measure the every-namespace walks instead of the storms. */
  netnsCost: boolean;
  namespaces: number;
  /** Measure an aborting storm (one RST per connection) instead of the storms. */
  resetCost: boolean;
}

/** A --rate entry: connections per second, or a share of the untraced full rate. */
type Pace = { perSecond: number } | { share: number };

// ---- options ------------------------------------------------------------------

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
}

function positive(name: string, fallback: number): number {
  const text = option(name);
  const value = text === undefined ? fallback : Number(text);
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`${name}: "${text}" is not a positive number`);
  return value;
}

function parsePace(text: string): Pace {
  const share = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (share && Number(share[1]) > 0) return { share: Number(share[1]) / 100 };
  if (/^\d+$/.test(text) && Number(text) > 0) return { perSecond: Number(text) };
  throw new Error(`--rate: "${text}" is neither connections per second (5000) nor a share of the untraced full rate (50%)`);
}

function parseOptions(): Options {
  const modes = (option('--modes') ?? '').split(',').filter(Boolean);
  const known = MODES.filter((m) => m.args).map((m) => m.name);
  const unknown = modes.filter((m) => !known.includes(m));
  if (unknown.length) throw new Error(`--modes: "${unknown[0]}" is not one of ${known.join(', ')}`);
  const rate = option('--rate');
  if (process.argv.includes('--netns-cost') && process.argv.includes('--reset-cost')) throw new Error('--netns-cost and --reset-cost are two runs: one at a time');
  return {
    seconds: positive('--seconds', 5),
    rounds: Math.round(positive('--rounds', 3)),
    serverClosesFirst: process.argv.includes('--server-closes-first'),
    modes,
    paces: rate === undefined ? [] : rate.split(',').map(parsePace),
    hold: option('--hold') === undefined ? 0 : Math.round(positive('--hold', 0)),
    netnsCost: process.argv.includes('--netns-cost'),
    namespaces: Math.round(positive('--namespaces', 100)),
    resetCost: process.argv.includes('--reset-cost'),
  };
}

// ---- measuring a process --------------------------------------------------------

/** The ids of the BPF programs or maps a process holds fds of (/proc/PID/fdinfo). */
export function bpfIdsHeldBy(pid: number, kind: 'prog' | 'map'): Set<number> {
  const ids = new Set<number>();
  const field = new RegExp(`^${kind}_id:\\s*(\\d+)`, 'm');
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const match = field.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (match) ids.add(Number(match[1]));
    } catch { /* closed meanwhile */ }
  }
  return ids;
}

interface ProgInfo { id: number; name?: string; run_cnt?: number; run_time_ns?: number }

function loadedPrograms(): ProgInfo[] {
  return JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as ProgInfo[];
}

/** run_cnt and run_time_ns of these programs now, by id (kernel.bpf_stats_enabled must be on). */
function programStats(ids: Set<number>): Map<number, ProgramRun> {
  return new Map(loadedPrograms().filter((p) => ids.has(p.id))
    .map((p) => [p.id, { name: p.name ?? `id ${p.id}`, runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 }]));
}

/** What each program ran between two readings (one taken before it was loaded counts from 0). */
export function programDeltas(before: Map<number, ProgramRun>, after: Map<number, ProgramRun>): ProgramRun[] {
  return [...after].map(([id, now]) => {
    const then = before.get(id);
    return { name: now.name, runs: now.runs - (then?.runs ?? 0), ns: now.ns - (then?.ns ?? 0) };
  });
}

function procStats(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime, stime
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds: ticks / 100, rssMb: hwm ? Number(hwm[1]) / 1024 : 0 };
}

/** A child whose output is kept, and a promise of its end. */
function launch(command: string, args: string[], stdout: 'pipe' | 'ignore'): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<void> } {
  const child = spawn(command, args, { stdio: ['ignore', stdout, 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, out: () => out, err: () => err, exited };
}

/** Polls until ready() holds; fails with why() if the child ends or time runs out first. */
async function until(child: ChildProcess, ready: () => boolean, why: () => string): Promise<void> {
  const deadline = Date.now() + ATTACH_TIMEOUT_MS;
  while (!ready()) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(why());
    await sleep(20);
  }
}

const lastLine = (text: string) => text.trim().split('\n').filter((l) => !/RLIMIT_MEMLOCK/.test(l)).pop() ?? 'no message';

// ---- the tracers ----------------------------------------------------------------

/**
 * tcptrace in one mode, its stderr kept. In a terminal, `script` runs it (exec'd,
 * so it is script's child) and the terminal carries its stderr too.
 */
function launchTcptrace(mode: Mode): { run: ReturnType<typeof launch>; pid: () => number | undefined; stderr: () => string } {
  const argv = [process.execPath, CLI, ...mode.args!, '-v'];
  if (!mode.terminal) {
    const run = launch(argv[0], argv.slice(1), 'ignore');
    return { run, pid: () => run.child.pid, stderr: run.err };
  }
  const run = launch('script', ['-qfec', `exec ${argv.map((a) => `'${a}'`).join(' ')}`, '/dev/null'], 'pipe');
  const pid = () => {
    try {
      return Number(fs.readFileSync(`/proc/${run.child.pid}/task/${run.child.pid}/children`, 'utf8').trim().split(' ')[0]) || undefined;
    } catch {
      return undefined;
    }
  };
  return { run, pid, stderr: () => run.out() + run.err() };
}

function tcptrace(mode: Mode): Tracer {
  return {
    name: mode.name,
    async attach() {
      const { run, pid, stderr } = launchTcptrace(mode);
      const attached = /attached (\d+) ms/;
      await until(run.child, () => attached.test(stderr()) && pid() !== undefined, () => `tcptrace ${mode.name} did not attach: ${lastLine(stderr())}`);
      const tracerPid = pid()!;
      return {
        pid: tracerPid,
        attachMs: Number(attached.exec(stderr())![1]),
        programIds: () => {
          const ours = new Set(loadedPrograms().filter((p) => OUR_PROGRAMS.includes(p.name ?? '')).map((p) => p.id));
          return new Set([...bpfIdsHeldBy(tracerPid, 'prog')].filter((id) => ours.has(id)));
        },
        async stop() {
          process.kill(tracerPid, 'SIGINT');
          await run.exited;
          const counts = /(\d+) events lost .*?, (\d+) inferred/.exec(stderr());
          return { lost: counts ? Number(counts[1]) : NaN, inferred: counts ? Number(counts[2]) : NaN };
        },
        kill: () => {
          if (run.child.exitCode !== null) return;
          try { process.kill(tracerPid, 'SIGKILL'); } catch { /* gone already */ }
          run.child.kill('SIGKILL');
        },
      };
    },
  };
}

/** The perf-event attachments of a process's tracepoint programs, as bpftool lists them. */
function tracepointPrograms(pid: number, tracepoint: string): Set<number> {
  const links = JSON.parse(execFileSync('bpftool', ['-j', 'perf', 'show'], { encoding: 'utf8' }) || '[]') as
    { pid: number; prog_id: number; tracepoint?: string }[];
  return new Set(links.filter((l) => l.pid === pid && l.tracepoint === tracepoint).map((l) => l.prog_id));
}

/** Sums bpftrace's printed map ("@[7, 10]: 64" lines), leaving listeners' transitions out. */
export function connectionTransitions(printed: string): number {
  let sum = 0;
  for (const m of printed.matchAll(/^@\[(\d+), (\d+)\]: (\d+)$/gm)) {
    if (!(LISTENER_STATES.has(Number(m[1])) && LISTENER_STATES.has(Number(m[2])))) sum += Number(m[3]);
  }
  return sum;
}

const peer: Tracer = {
  name: PEER,
  async attach() {
    const started = Date.now();
    const run = launch(PEER, ['-e', PEER_PROGRAM], 'pipe');
    let ids = new Set<number>();
    await until(run.child, () => (ids = tracepointPrograms(run.child.pid!, PEER_TRACEPOINT)).size > 0,
      () => `bpftrace did not attach: ${lastLine(run.err())}`);
    return {
      pid: run.child.pid!,
      attachMs: Date.now() - started,
      programIds: () => ids,
      async stop() {
        // bpftrace 0.17 once slept on through a SIGINT (10 minutes, counting the
        // host's traffic) and stopped at the next one: ask again until it goes.
        run.child.kill('SIGINT');
        const again = setInterval(() => run.child.kill('SIGINT'), PEER_STOP_RETRY_MS);
        await run.exited.finally(() => clearInterval(again));
        return { counted: connectionTransitions(run.out()) };
      },
      kill: () => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); },
    };
  },
};

function peerInstalled(): boolean {
  try {
    execFileSync('which', [PEER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tracers(o: Options, withPeer: boolean): Tracer[] {
  const modes = MODES.filter((m) => m.args && (!o.modes.length || o.modes.includes(m.name)));
  return [{ name: 'untraced' }, ...modes.map(tcptrace), ...(withPeer ? [peer] : [])];
}

/**
 * One counter of /proc/net/snmp (or /proc/net/netstat), where each group is a
 * line of names and then a line of values, both led by "Group:".
 */
export function snmpCounter(text: string, group: string, name: string): number | undefined {
  const lines = text.split('\n').filter((line) => line.startsWith(`${group}: `)).map((line) => line.trim().split(/\s+/));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const at = lines[i].indexOf(name);
    if (at > 0 && lines[i + 1][at] !== undefined) return Number(lines[i + 1][at]);
  }
  return undefined;
}

/** The RSTs this network namespace has sent so far (TcpOutRsts). */
const resetsSentSoFar = () => snmpCounter(fs.readFileSync('/proc/net/snmp', 'utf8'), 'Tcp', 'OutRsts') ?? NaN;

// ---- the run ----------------------------------------------------------------------

/** One storm, and the RSTs sent meanwhile. */
async function stormCountingResets(generator: Generator, storm: StormOptions): Promise<StormRun & Pick<Sample, 'resetsSent'>> {
  const before = resetsSentSoFar();
  const run = await runStorm(generator, storm);
  return { ...run, resetsSent: resetsSentSoFar() - before };
}

async function sampleUnder(tracer: Tracer, generator: Generator, storm: StormOptions): Promise<Sample> {
  if (!tracer.attach) return stormCountingResets(generator, storm);
  const attached = await tracer.attach();
  try {
    const ids = attached.programIds();
    const before = programStats(ids);
    const run = await stormCountingResets(generator, storm);
    await sleep(DRAIN_MS); // let the tracer drain
    const programs = programDeltas(before, programStats(ids));
    const { cpuSeconds, rssMb } = procStats(attached.pid);
    const said = await attached.stop();
    const bytesPerTransition = tracer.name === 'record' ? fs.statSync(RECORD_FILE).size / transitions(run) : undefined;
    const bpfNs = programs.reduce((sum, p) => sum + p.ns, 0) / transitions(run);
    return { ...run, ...said, cpuSeconds, rssMb, bpfNs, programs, attachMs: attached.attachMs, bytesPerTransition };
  } finally {
    attached.kill();
  }
}

/** Every tracer once per round; even rounds run them in reverse, so drift over the run falls on all rows alike. */
async function runRounds(rows: Tracer[], generator: Generator, storm: StormOptions, rounds: number): Promise<Map<string, Sample[]>> {
  const results = new Map<string, Sample[]>(rows.map((t) => [t.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const tracer of round % 2 ? rows : [...rows].reverse()) {
      process.stderr.write(`round ${round}/${rounds}: ${tracer.name}${storm.rate ? ` at ${storm.rate}/s` : ''}...\n`);
      results.get(tracer.name)!.push(await sampleUnder(tracer, generator, storm));
    }
  }
  return results;
}

/** The untraced full rate, median of `rounds` storms: what --rate P% is a share of. */
async function fullRate(generator: Generator, o: Options): Promise<number> {
  const rates: number[] = [];
  for (let i = 1; i <= o.rounds; i++) {
    process.stderr.write(`full rate ${i}/${o.rounds}: untraced...\n`);
    rates.push((await runStorm(generator, { seconds: o.seconds, serverClosesFirst: o.serverClosesFirst })).rate);
  }
  return median(rates);
}

// ---- the table ----------------------------------------------------------------------

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (x: number | undefined, digits = 0) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits));

/** The median of a metric over a row's samples; undefined where the row has none (untraced). */
function medianOf(samples: Sample[], metric: (s: Sample) => number | undefined): number | undefined {
  const values = samples.map(metric).filter((v): v is number => v !== undefined && !Number.isNaN(v));
  return values.length ? median(values) : undefined;
}

/** Each round's value, "a/b/c"; "-" where the row has none. */
function each(samples: Sample[], metric: (s: Sample) => number | undefined): string {
  return samples.some((s) => metric(s) !== undefined) ? samples.map((s) => fmt(metric(s))).join('/') : '-';
}

interface Row {
  name: string;
  samples: Sample[];
  rate: number;
  untraced: number;
  peer?: number;
}

const perMillion = (s: Sample) => (s.cpuSeconds === undefined ? undefined : s.cpuSeconds / (transitions(s) / 1e6));

const COLUMNS: Column<Row>[] = [
  { header: 'mode', value: (r) => r.name },
  { header: 'conn/s', value: (r) => fmt(r.rate), align: 'right' },
  { header: 'vs untraced', value: (r) => `${((r.rate / r.untraced) * 100).toFixed(0)} %`, align: 'right' },
  { header: `vs ${PEER}`, value: (r) => (r.peer ? (r.rate / r.peer).toFixed(2) : '-'), align: 'right' },
  { header: 'storm errors', value: (r) => each(r.samples, (s) => s.errors) },
  { header: 'lost', value: (r) => each(r.samples, (s) => s.lost) },
  { header: 'inferred', value: (r) => each(r.samples, (s) => s.inferred) },
  { header: 'tracer CPU s per 1M transitions', value: (r) => fmt(medianOf(r.samples, perMillion), 2), align: 'right' },
  { header: 'BPF ns/transition', value: (r) => fmt(medianOf(r.samples, (s) => s.bpfNs)), align: 'right' },
  { header: 'attach ms', value: (r) => fmt(medianOf(r.samples, (s) => s.attachMs)), align: 'right' },
  { header: 'peak RSS MB', value: (r) => fmt(medianOf(r.samples, (s) => s.rssMb)), align: 'right' },
  { header: 'bytes/transition', value: (r) => fmt(medianOf(r.samples, (s) => s.bytesPerTransition), 1), align: 'right' },
];

function table(results: Map<string, Sample[]>): string[] {
  const rateOf = (name: string) => (results.has(name) ? median(results.get(name)!.map((s) => s.rate)) : undefined);
  const untraced = rateOf('untraced')!;
  const peerRate = rateOf(PEER);
  const rows = [...results].map(([name, samples]) => ({ name, samples, rate: rateOf(name)!, untraced, peer: peerRate }));
  return renderMarkdownTable(COLUMNS, rows);
}

// ---- what each attach point costs -------------------------------------------------------

/** One program of one row: its samples are the row's, each with that program's run in it. */
export interface ProgramRow {
  mode: string;
  program: string;
  samples: Sample[];
}

/** A program's metric, median over the rounds that loaded it. */
function perProgram(metric: (p: ProgramRun, s: Sample) => number | undefined): (r: ProgramRow) => number | undefined {
  return (r) => medianOf(r.samples, (s) => {
    const run = s.programs?.find((p) => p.name === r.program);
    return run && metric(run, s);
  });
}

const PROGRAM_COLUMNS: Column<ProgramRow>[] = [
  { header: 'mode', value: (r) => r.mode },
  { header: 'BPF program', value: (r) => r.program },
  { header: 'runs/connection', value: (r) => fmt(perProgram((p, s) => p.runs / s.connections)(r), 2), align: 'right' },
  { header: 'ns/run', value: (r) => fmt(perProgram((p) => (p.runs ? p.ns / p.runs : undefined))(r)), align: 'right' },
  { header: 'ns/transition', value: (r) => fmt(perProgram((p, s) => p.ns / transitions(s))(r)), align: 'right' },
];

/** tcptrace's programs in OUR_PROGRAMS' order, then any other (the peer's). */
const programOrder = (name: string) => (OUR_PROGRAMS.includes(name) ? OUR_PROGRAMS.indexOf(name) : OUR_PROGRAMS.length);

/** One row per program each traced row ran, in the main table's order. */
export function programRows(results: Map<string, Sample[]>): ProgramRow[] {
  return [...results].flatMap(([mode, samples]) => {
    const names = [...new Set(samples.flatMap((s) => s.programs?.map((p) => p.name) ?? []))];
    names.sort((a, b) => programOrder(a) - programOrder(b) || a.localeCompare(b));
    return names.map((program) => ({ mode, program, samples }));
  });
}

export const programTable = (results: Map<string, Sample[]>) => renderMarkdownTable(PROGRAM_COLUMNS, programRows(results));

/** bpftrace's count against the storm's own: a check that both count the same transitions. */
function peerCheck(samples: Sample[] | undefined): string | undefined {
  if (!samples?.length) return undefined;
  const rounds = samples.map((s) => {
    const extra = s.counted! - transitions(s);
    return `${s.counted} for ${transitions(s)} (${extra >= 0 ? `+${extra} from the host's other sockets` : `${-extra} MISSING`})`;
  });
  return `${PEER}'s count, listeners' transitions left out, against the storm's ${TRANSITIONS_PER_CONNECTION} per connection: ${rounds.join('; ')}`;
}

const roundsRun = (rounds: number) => `${rounds} ${rounds === 1 ? 'round' : 'rounds in alternating order'}, medians`;
const machine = () => `${os.cpus().length} CPUs, kernel ${os.release()}`;

function header(generator: Generator, o: Options, rate: string | undefined): string {
  const closes = o.serverClosesFirst ? 'server closes first' : 'client closes first';
  return `tcptrace bench: ${generator.name}, ${o.seconds} s loopback storms (${closes}${rate ? `, paced at ${rate}` : ''}), ` +
    `${roundsRun(o.rounds)}; ${machine()}` +
    (o.hold ? `; ${o.hold} idle connections (${2 * o.hold} sockets) held open throughout` : '');
}

function printProgramTable(results: Map<string, Sample[]>): void {
  console.log('What each attach point costs (bpf_stats over the storm, medians): runs per connection, ns per run, ns it adds per transition');
  for (const line of programTable(results)) console.log(line);
  console.log('');
}

function report(generator: Generator, o: Options, rate: string | undefined, results: Map<string, Sample[]>): void {
  console.log(header(generator, o, rate));
  for (const line of table(results)) console.log(line);
  const check = peerCheck(results.get(PEER));
  if (check) console.log(check);
  console.log('');
  printProgramTable(results);
}

// ---- main ----------------------------------------------------------------------------

/** Set for the run and restored after it. */
export const BENCH_SYSCTLS: Record<string, string> = {
  'kernel.bpf_stats_enabled': '1',
  'net.ipv4.tcp_max_tw_buckets': '1048576',
};

/** What must be undone however the run ends: by withUndo's finally, or by interrupted(). */
const toUndo = new Set<() => void>();

/** Runs fn, then undo (synchronous), however fn ends; on SIGINT/SIGTERM too, where main installs interrupted(). */
export async function withUndo<T>(undo: () => void, fn: () => Promise<T>): Promise<T> {
  toUndo.add(undo);
  try {
    return await fn();
  } finally {
    toUndo.delete(undo);
    undo();
  }
}

/** SIGINT/SIGTERM: the same undoing, innermost first, then out (children end with their own signal or with us). */
function interrupted(signal: NodeJS.Signals): void {
  console.error(`bench: ${signal}: undoing what the run set up`);
  for (const undo of [...toUndo].reverse()) {
    try { undo(); } catch (err) { console.error(`bench: ${(err as Error).message}`); }
  }
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/** Runs fn with these sysctls set, and puts the previous values back after it, however it ends. */
export async function withSysctls<T>(settings: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const before = new Map(Object.keys(settings).map((key) =>
    [key, execFileSync('sysctl', ['-n', key], { encoding: 'utf8' }).trim()]));
  const restore = () => { for (const [key, value] of before) execFileSync('sysctl', ['-qw', `${key}=${value}`]); };
  return withUndo(restore, async () => {
    for (const [key, value] of Object.entries(settings)) execFileSync('sysctl', ['-qw', `${key}=${value}`]);
    return fn();
  });
}

// ---- every-namespace walks ------------------------------------------------------------

/** What nsfill makes in each of the bench's namespaces: 56 sockets (bench/nsfill.c). */
const NETNS_FILL: NetnsFill = { established: 20, closeWait: 5, timeWait: 5 };
/** nsfill's own bound; the part ends it sooner. */
const NETNS_FILL_MAX_SECONDS = 600;
const TCP_TIME_WAIT = 6;
/** The part's: no bpf_stats, which would add two clock reads to every socket an iterator visits. */
const NETNS_SYSCTLS = { 'net.ipv4.tcp_max_tw_buckets': BENCH_SYSCTLS['net.ipv4.tcp_max_tw_buckets'] };

/** The namespaces on the host when a scenario starts. */
interface Host {
  all: NetnsEntry[];
  /** All but tcptrace's own (the ones everyNetns walks one by one). */
  others: NetnsEntry[];
}

/** What one pass visited. */
export interface Walked {
  /** The namespaces it covered; undefined for the file-table walk, which covers tasks, whatever their namespace. */
  namespaces?: number;
  sockets: number;
}

/** One row of the part's table: `run` makes one pass, in a session with only the iterators loaded. */
interface Walk {
  what: string;
  run(session: TraceSession, host: Host): Walked;
}

/** The session's kernel side, for the bare walks its methods make together (bracket access keeps the type check). */
const kernelOf = (session: TraceSession) => session['tracer'];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** snapshot_socks in one namespace: its records (none where it is gone, as the session has it). */
function socketWalk(session: TraceSession, netnsPath?: string): number {
  try {
    return kernelOf(session).runIterator('snapshot_socks', netnsPath).length / SOCK_REC_LAYOUT.size;
  } catch {
    return 0;
  }
}

/** count_states in these namespaces, as LiveSource counts them: the sockets counted. */
function countStates(session: TraceSession, namespaces: NetnsEntry[]): number {
  return sum(session.stateCountsIn(namespaces).map((n) => sum(n.counts)));
}

const WALKS: Walk[] = [
  { what: 'count_states, own namespace', run: (s, h) => ({ namespaces: 1, sockets: countStates(s, h.all.filter((n) => !h.others.includes(n))) }) },
  {
    what: 'count_states in each namespace (the live view, serve)',
    run: (s, h) => ({ namespaces: h.all.length, sockets: countStates(s, h.all) }),
  },
  {
    what: 'snapshot_files: every task\'s file table, one walk',
    run: (s) => {
      kernelOf(s).holdersOfEveryNetns(true);
      return { sockets: kernelOf(s).runIterator('snapshot_files').length / FILE_REC_LAYOUT.size };
    },
  },
  { what: 'snapshot_socks, own namespace', run: (s) => ({ namespaces: 1, sockets: socketWalk(s) }) },
  {
    what: 'snapshot_socks in each other namespace',
    run: (s, h) => ({ namespaces: h.others.length, sockets: sum(h.others.map((n) => socketWalk(s, n.path))) }),
  },
  { what: 'snapshotOnce(): load, both walks, decode, unload', run: () => ({ namespaces: 1, sockets: TraceSession.snapshotOnce().sockets.length }) },
  {
    what: 'snapshotOnce({ everyNetns: true })',
    run: (_, h) => ({ namespaces: h.all.length, sockets: TraceSession.snapshotOnce({ everyNetns: true }).sockets.length }),
  },
];

export interface WalkResult {
  what: string;
  /** What the last pass visited. */
  walked: Walked;
  /** Each pass's time. */
  ms: number[];
}

/** Every walk once per round, in turn, so drift falls on all alike. */
function timeWalks(session: TraceSession, host: Host, rounds: number): WalkResult[] {
  const results: WalkResult[] = WALKS.map((w) => ({ what: w.what, walked: { sockets: 0 }, ms: [] }));
  for (let round = 0; round < rounds; round++) {
    WALKS.forEach((walk, i) => {
      const started = process.hrtime.bigint();
      results[i].walked = walk.run(session, host);
      results[i].ms.push(Number(process.hrtime.bigint() - started) / 1e6);
    });
  }
  return results;
}

const WALK_COLUMNS: Column<WalkResult>[] = [
  { header: 'what', value: (r) => r.what },
  { header: 'namespaces', value: (r) => (r.walked.namespaces === undefined ? 'all (tasks)' : String(r.walked.namespaces)), align: 'right' },
  { header: 'sockets', value: (r) => String(r.walked.sockets), align: 'right' },
  { header: 'ms per pass', value: (r) => fmt(median(r.ms), 1), align: 'right' },
  { header: 'ms per namespace', value: (r) => (r.walked.namespaces ? fmt(median(r.ms) / r.walked.namespaces, 2) : '-'), align: 'right' },
  { header: 'each pass ms', value: (r) => r.ms.map((ms) => fmt(ms, 1)).join('/') },
];

export const walkTable = (results: WalkResult[]) => renderMarkdownTable(WALK_COLUMNS, results);

/** One scenario: the host's own sockets counted, then every walk `rounds` times in a fresh session. */
function measureWalks(scenario: string, rounds: number): void {
  process.stderr.write(`netns cost: ${scenario}...\n`);
  const session = TraceSession.open({ iteratorsOnly: true, everyNetns: true });
  try {
    const all = listNetns();
    const self = ownNetns();
    const { counts: own } = session.ownStateCounts();
    const results = timeWalks(session, { all, others: all.filter((n) => n.inode !== self) }, rounds);
    console.log(`${scenario}: the host's own namespace holds ${sum(own)} sockets (${own[TCP_TIME_WAIT]} TIME_WAIT); ${all.length} ${all.length === 1 ? 'namespace' : 'namespaces'} on the host`);
    for (const line of walkTable(results)) console.log(line);
    console.log('');
  } finally {
    void session.stop(); // never started: detaches and unloads at once
  }
}

/**
 * Runs fn with a way to make and fill the bench's namespaces; ends their filler
 * and removes them however it ends (Ctrl-C too), and first any an interrupted
 * earlier run left.
 */
async function withBenchNamespaces<T>(fn: (make: (count: number) => Promise<number>) => Promise<T>): Promise<T> {
  let filler: ChildProcess | undefined;
  const undo = () => {
    filler?.kill('SIGKILL');
    removeBenchNamespaces();
  };
  const leftovers = benchNamespaces();
  if (leftovers.length) console.log(`note: removing ${leftovers.length} namespaces (${BENCH_NETNS_PREFIX}*) an interrupted run left`);
  undo();
  return withUndo(undo, () => fn(async (count) => {
    const started = startFiller(addNamespaces(count), NETNS_FILL, NETNS_FILL_MAX_SECONDS);
    filler = started.filler;
    return started.ready;
  }));
}

/** --netns-cost: the walks with none of the bench's namespaces, with them, and with them and a host full of TIME_WAIT. */
async function netnsCost(generator: Generator, o: Options): Promise<void> {
  console.log(`tcptrace bench --netns-cost: the walks over every network namespace, ${o.rounds} ${o.rounds === 1 ? 'pass' : 'passes'} each, ` +
    `medians; ${os.cpus().length} CPUs, kernel ${os.release()}`);
  console.log('');
  await withBenchNamespaces(async (make) => {
    measureWalks('none of the bench\'s namespaces', o.rounds);
    const started = Date.now();
    const sockets = await make(o.namespaces);
    const made = `${o.namespaces} namespaces of the bench's, each with a listener and ${NETNS_FILL.established} established, ` +
      `${NETNS_FILL.closeWait} CLOSE_WAIT and ${NETNS_FILL.timeWait} TIME_WAIT connections (${sockets} sockets; made in ${Date.now() - started} ms)`;
    measureWalks(made, o.rounds);
    process.stderr.write(`netns cost: a ${o.seconds} s storm for the host's TIME_WAIT...\n`);
    const storm = await runStorm(generator, { seconds: o.seconds, serverClosesFirst: false });
    measureWalks(`${made}, after a ${o.seconds} s storm of ${storm.connections} connections in the host's own namespace`, o.rounds);
  });
}

// ---- what a RST costs -----------------------------------------------------------------

/**
 * The modes --reset-cost runs, one of each kind (a report, the event stream, the
 * exporter): their sessions leave resetsUnneeded unset, so they load the reset
 * programs; the live view, hist and culprits do not (src/cli/commands).
 */
const RESET_MODES = ['life', 'live --json', 'serve'];
/** The programs a session loads only when it follows resets (native/tracer.cc). */
const RESET_PROGRAMS = ['on_send_reset', 'on_send_reset_no_reason', 'on_receive_reset', 'on_destroy_sock'];
/** The part's: an aborted connection leaves no TIME_WAIT to make room for. */
const RESET_SYSCTLS = { 'kernel.bpf_stats_enabled': BENCH_SYSCTLS['kernel.bpf_stats_enabled'] };

/** Per row, RSTs sent per connection (median over the rounds) and each round's count. */
export function resetsSentLine(results: Map<string, Sample[]>): string {
  const rows = [...results].map(([name, samples]) =>
    `${name} ${fmt(medianOf(samples, (s) => (s.resetsSent === undefined ? undefined : s.resetsSent / s.connections)), 2)} (${each(samples, (s) => s.resetsSent)})`);
  return `RSTs sent per connection (TcpOutRsts over each storm, every socket of the namespace's), median (each round): ${rows.join('; ')}`;
}

/** The traced rows that ran none of the reset programs: they cannot say what a RST costs. */
export function rowsWithoutResetPrograms(results: Map<string, Sample[]>): string[] {
  return [...results].filter(([name, samples]) => name !== 'untraced' &&
    !samples.some((s) => s.programs?.some((p) => RESET_PROGRAMS.includes(p.name)))).map(([name]) => name);
}

/** --reset-cost: the aborting storm untraced and under each mode that follows resets. */
async function resetCost(o: Options): Promise<void> {
  buildLoadGenerators(TCPSTORM);
  const rows = [{ name: 'untraced' }, ...MODES.filter((m) => RESET_MODES.includes(m.name)).map(tcptrace)];
  const storm = { seconds: o.seconds, serverClosesFirst: false, abort: true };
  const results = await withSysctls(RESET_SYSCTLS, () => runRounds(rows, TCPSTORM, storm, o.rounds));
  console.log(`tcptrace bench --reset-cost: ${TCPSTORM.name} --abort, ${o.seconds} s loopback storms whose client closes every connection ` +
    `with a RST (SO_LINGER {on, 0}: ${TRANSITIONS_PER_ABORTED_CONNECTION} transitions and 1 RST per connection), ${roundsRun(o.rounds)}; ${machine()}`);
  for (const line of table(results)) console.log(line);
  console.log(resetsSentLine(results));
  const without = rowsWithoutResetPrograms(results);
  if (without.length) console.log(`note: ${without.join(', ')} loaded none of ${RESET_PROGRAMS.join(', ')}`);
  console.log('');
  printProgramTable(results);
}

/** Each pace as connections per second and as printed; [undefined] when unpaced. */
async function resolvePaces(generator: Generator, o: Options): Promise<({ perSecond: number; label: string } | undefined)[]> {
  if (!o.paces.length) return [undefined];
  const full = o.paces.some((p) => 'share' in p) ? await fullRate(generator, o) : 0;
  return o.paces.map((p) => ('share' in p
    ? { perSecond: Math.round(p.share * full), label: `${Math.round(p.share * full)}/s = ${+(p.share * 100).toFixed(2)} % of the untraced full rate, ${Math.round(full)}/s` }
    : { perSecond: p.perSecond, label: `${p.perSecond}/s` }));
}

/** The usage lines of the comment at the top of this file. */
const USAGE = `usage:
  npm run bench -- [--seconds 5] [--rounds 3] [--server-closes-first] [--modes a,b]
                   [--rate N|P%[,...]] [--hold N]
  npm run bench -- --netns-cost [--namespaces 100] [--rounds 3] [--seconds 5]
  npm run bench -- --reset-cost [--rounds 3] [--seconds 5]
(docs/performance.md says what each prints)`;

/** Says so if a tcptrace is attached already: every row pays for it. */
function noteStrays(): void {
  const strays = loadedPrograms().filter((p) => p.name === 'on_set_state').map((p) => p.id);
  if (strays.length) {
    console.log(`note: a tcptrace is already attached (program ${strays.join(', ')}): every row, the untraced one too, pays for it`);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) return console.log(USAGE);
  if (process.geteuid?.() !== 0) throw new Error('the benchmark loads BPF: run it as root');
  const o = parseOptions();
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  if (o.resetCost) {
    noteStrays();
    return resetCost(o);
  }
  const { generator, note } = pickGenerator();
  if (note) console.log(`note: ${note}`);
  if (o.netnsCost) {
    buildLoadGenerators(generator);
    return withSysctls(NETNS_SYSCTLS, () => netnsCost(generator, o));
  }
  const withPeer = peerInstalled();
  if (!withPeer) console.log(`note: ${PEER} is not installed (apt-get install ${PEER}, or scripts/setup.sh --test): no peer row`);
  else if (ensureTracefs().mounted) console.log('note: mounted tracefs at /sys/kernel/tracing (bpftrace reads the tracepoint there)');
  noteStrays();
  buildLoadGenerators(generator);
  const holder = o.hold > 0 ? await holdConnections(o.hold) : undefined;
  const rows = tracers(o, withPeer);
  await withSysctls(BENCH_SYSCTLS, async () => {
    for (const pace of await resolvePaces(generator, o)) {
      const storm = { seconds: o.seconds, rate: pace?.perSecond, serverClosesFirst: o.serverClosesFirst };
      report(generator, o, pace?.label, await runRounds(rows, generator, storm, o.rounds));
    }
  }).finally(() => holder?.stdin!.end());
}

// Run as a script; imported (by soak.ts) for its helpers only.
if (require.main === module) {
  main().catch((err) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  });
}
