/**
 * `npm run bench`: a loopback connection storm (bench/tcpstorm.c, 127.0.0.1
 * only, bounded in time) run with no tracer and under each tcptrace mode,
 * alternating, on the same machine in one run. Prints ratios measured side by
 * side, never compared with absolute thresholds.
 *
 *   npm run bench -- [--seconds 5] [--rounds 2] [--server-closes-first] [--rate N] [--modes a,b]
 *                    [--hold N]
 * --hold N keeps N idle loopback connections (2N sockets) open through every
 * run (bench/tcphold.c), to show what many live sockets cost.
 * Needs root (BPF). Turns kernel.bpf_stats_enabled on for the run, and raises
 * net.ipv4.tcp_max_tw_buckets (each storm leaves tens of thousands of TIME_WAIT
 * sockets for 60 s; past the limit the kernel answers with RSTs instead), then
 * puts both back.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'tcptrace');
export const STORM = path.join(ROOT, 'build', 'tcpstorm');
const HOLDER = path.join(ROOT, 'build', 'tcphold');
const TRANSITIONS_PER_CONNECTION = 10;
const OUR_PROGRAMS = ['on_set_state', 'on_set_state_nested', 'on_send', 'on_recv', 'on_accept4_exit', 'on_accept_exit'];

export interface Mode {
  name: string;
  args?: string[];
}

export const MODES: Mode[] = [
  { name: 'untraced' },
  { name: 'live --json', args: ['live', '--json'] },
  { name: 'live --events', args: ['live', '--events'] },
  { name: 'life', args: ['life'] },
  { name: 'hist', args: ['hist'] },
  { name: 'culprits', args: ['culprits', '-d', '3600'] },
  { name: 'record', args: ['record', '-o', path.join(os.tmpdir(), 'tcptrace-bench.jsonl')] },
];

interface Sample {
  rate: number;
  connections: number;
  lost?: number;
  inferred?: number;
  cpuSeconds?: number;
  bpfNs?: number;
  attachMs?: number;
  rssMb?: number;
}

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

export function buildLoadGenerators(): void {
  execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', STORM, path.join(ROOT, 'bench', 'tcpstorm.c')], { stdio: 'inherit' });
  execFileSync('cc', ['-O2', '-Wall', '-o', HOLDER, path.join(ROOT, 'bench', 'tcphold.c')], { stdio: 'inherit' });
}

/** Starts tcphold; resolves with it once its connections are all established. */
function holdConnections(count: number): Promise<ChildProcess> {
  const holder = spawn(HOLDER, ['--connections', String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    holder.stdout!.once('data', () => resolve(holder));
    holder.once('exit', (code) => reject(new Error(`tcphold exited (${code}) before holding its connections`)));
  });
}

function runStorm(seconds: number): { connections: number; rate: number; seconds: number } {
  const args = ['--duration', String(seconds)];
  if (process.argv.includes('--server-closes-first')) args.push('--server-closes-first');
  if (process.argv.includes('--rate')) args.push('--rate', option('--rate', '0'));
  const out = execFileSync(STORM, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

function waitFor(child: ChildProcess, stderr: () => string, pattern: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const tick = () => {
      if (pattern.test(stderr())) resolve();
      else if (child.exitCode !== null || Date.now() > deadline) reject(new Error(`tcptrace did not attach: ${stderr()}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

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

/** run_time_ns summed over this tracer's event programs (kernel.bpf_stats_enabled must be on). */
function bpfRunTimeNs(tracerPid: number): number {
  const mine = bpfIdsHeldBy(tracerPid, 'prog');
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { id: number; name?: string; run_time_ns?: number }[];
  return progs.filter((p) => mine.has(p.id) && OUR_PROGRAMS.includes(p.name ?? ''))
    .reduce((sum, p) => sum + (p.run_time_ns ?? 0), 0);
}

function procStats(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime, stime
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds: ticks / 100, rssMb: hwm ? Number(hwm[1]) / 1024 : 0 };
}

async function runTraced(mode: Mode, seconds: number): Promise<Sample> {
  const devnull = fs.openSync('/dev/null', 'w');
  const child = spawn(process.execPath, [CLI, ...mode.args!, '-v'], { stdio: ['ignore', devnull, 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor(child, () => stderr, /attached (\d+) ms/, 15_000);
    const storm = runStorm(seconds);
    await new Promise((r) => setTimeout(r, 500)); // let the tracer drain
    const bpfNs = bpfRunTimeNs(child.pid!);
    const { cpuSeconds, rssMb } = procStats(child.pid!);
    child.kill('SIGINT');
    await exited;
    const counts = /(\d+) events lost .*?, (\d+) inferred/.exec(stderr);
    const transitions = storm.connections * TRANSITIONS_PER_CONNECTION;
    return {
      rate: storm.rate, connections: storm.connections,
      lost: counts ? Number(counts[1]) : NaN, inferred: counts ? Number(counts[2]) : NaN,
      cpuSeconds, rssMb, bpfNs: bpfNs / transitions,
      attachMs: Number(/attached (\d+) ms/.exec(stderr)![1]),
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.closeSync(devnull);
  }
}

/** Set for the run and restored after it. */
export const BENCH_SYSCTLS: Record<string, string> = {
  'kernel.bpf_stats_enabled': '1',
  'net.ipv4.tcp_max_tw_buckets': '1048576',
};

/** Runs fn with these sysctls set, and puts the previous values back after it, however it ends. */
export async function withSysctls<T>(settings: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const before = new Map(Object.keys(settings).map((key) =>
    [key, execFileSync('sysctl', ['-n', key], { encoding: 'utf8' }).trim()]));
  for (const [key, value] of Object.entries(settings)) execFileSync('sysctl', ['-qw', `${key}=${value}`]);
  try {
    return await fn();
  } finally {
    for (const [key, value] of before) execFileSync('sysctl', ['-qw', `${key}=${value}`]);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (x: number | undefined, digits = 0) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits));

/** The median of a metric over a mode's samples; undefined where the mode has none (untraced). */
function medianOf(samples: Sample[], metric: (s: Sample) => number | undefined): number | undefined {
  const values = samples.map(metric).filter((v): v is number => v !== undefined && !Number.isNaN(v));
  return values.length ? median(values) : undefined;
}

function table(results: Map<string, Sample[]>): string[] {
  const base = median(results.get('untraced')!.map((s) => s.rate));
  const header = ['mode', 'conn/s', 'vs untraced', 'lost', 'inferred', 'tracer CPU s per 1M transitions',
    'BPF ns/transition', 'attach ms', 'peak RSS MB'];
  const rows = [...results].map(([name, samples]) => {
    const rate = median(samples.map((s) => s.rate));
    const perMillion = medianOf(samples, (s) =>
      (s.cpuSeconds === undefined ? undefined : s.cpuSeconds / ((s.connections * TRANSITIONS_PER_CONNECTION) / 1e6)));
    const each = (metric: (s: Sample) => number | undefined) =>
      (samples.some((s) => metric(s) !== undefined) ? samples.map((s) => fmt(metric(s))).join('/') : '-');
    return [
      name, fmt(rate), `${((rate / base) * 100).toFixed(0)} %`, each((s) => s.lost), each((s) => s.inferred),
      fmt(perMillion, 2), fmt(medianOf(samples, (s) => s.bpfNs)), fmt(medianOf(samples, (s) => s.attachMs)),
      fmt(medianOf(samples, (s) => s.rssMb)),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
}

async function main(): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('the benchmark loads BPF: run it as root');
  const seconds = Number(option('--seconds', '5'));
  const rounds = Number(option('--rounds', '2'));
  const wanted = option('--modes', '').split(',').filter(Boolean);
  const modes = MODES.filter((m) => m.name === 'untraced' || !wanted.length || wanted.includes(m.name));
  buildLoadGenerators();
  const hold = Number(option('--hold', '0'));
  const holder = hold > 0 ? await holdConnections(hold) : undefined;
  const results = new Map<string, Sample[]>(modes.map((m) => [m.name, []]));
  await withSysctls(BENCH_SYSCTLS, async () => {
    for (let round = 1; round <= rounds; round++) {
      for (const mode of modes) {
        process.stderr.write(`round ${round}/${rounds}: ${mode.name}...\n`);
        const sample = mode.args ? await runTraced(mode, seconds) : (({ rate, connections }) => ({ rate, connections }))(runStorm(seconds));
        results.get(mode.name)!.push(sample);
      }
    }
  }).finally(() => holder?.stdin!.end());
  const storm = process.argv.includes('--server-closes-first') ? 'server closes first' : 'client closes first';
  console.log(`tcptrace bench: ${seconds} s loopback storms (${storm}${process.argv.includes('--rate') ? `, paced at ${option('--rate', '')}/s` : ''}), ` +
    `${rounds} alternating rounds, medians; ${os.cpus().length} CPUs, kernel ${os.release()}` +
    (hold ? `; ${hold} idle connections (${2 * hold} sockets) held open throughout` : ''));
  for (const l of table(results)) console.log(l);
  for (const tool of ['bpftrace', 'tcplife-bpfcc', 'tcpstates-bpfcc']) {
    try { execFileSync('which', [tool], { stdio: 'ignore' }); console.log(`(${tool} is installed but not yet a row)`); } catch { /* not installed */ }
  }
}

// Run as a script; imported (by soak.ts) for its helpers only.
if (require.main === module) {
  main().catch((err) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  });
}
