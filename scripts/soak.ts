/**
 * `npm run soak`: a long loopback storm at full rate under one tcptrace mode,
 * then a quiet spell, to show that tcptrace keeps running with flat memory,
 * bounded kernel maps and every lost event counted.
 *
 *   npm run soak -- [--minutes 10] [--mode hist] [--idle-seconds 60] [--server-closes-first] [--rate N]
 *
 * Runs bench/tcpstorm.c (127.0.0.1 only) for --minutes, in runs of at most
 * 600 s (its limit), then idles. Every 10 s it samples the tracer's resident
 * memory and CPU (/proc), its kernel counters (the BPF program's .bss, read
 * with bpftool: lost, untracked, inferred) and how many entries its accept queue map
 * holds; at the end, the counters tcptrace itself prints on exit (-v). Prints
 * a table and a verdict on flatness: resident memory after the first minute.
 * Needs root. Bounded in time; kills what it started and restores
 * net.ipv4.tcp_max_tw_buckets however it ends (Ctrl-C included).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_SYSCTLS, bpfIdsHeldBy, CLI, Mode, MODES, withSysctls } from './bench';
import { buildLoadGenerators, STORM } from './generators';

const SAMPLE_EVERY_MS = 10_000;
const STORM_RUN_MAX_S = 600; // tcpstorm's own limit
const FIRST_MINUTE_S = 60;

interface Options {
  minutes: number;
  mode: Mode;
  idleSeconds: number;
  stormArgs: string[];
}

interface Sample {
  t: number;
  phase: 'storm' | 'idle';
  rssMb: number;
  cpuPercent: number;
  lost: number;
  nestedCaught: number;
  untracked: number;
  inferred: number;
  mapEntries: number;
}

function fail(message: string): never {
  console.error(`soak: ${message}`);
  process.exit(2);
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) fail(`${name} needs a value`);
  return value;
}

function numberOption(name: string, fallback: number, min: number, max: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n < min || n > max) fail(`${name}: "${text}" is not a number from ${min} to ${max}`);
  return n;
}

/** The bench's modes, with what a long run needs instead: no end, and no file growing by GB a minute. */
function soakMode(name: string, totalSeconds: number): Mode {
  const mode = MODES.find((m) => m.args && (m.name === name || m.name === `${name} --json`));
  if (!mode) fail(`--mode: "${name}" is not one of ${MODES.filter((m) => m.args).map((m) => m.name).join(', ')}`);
  if (mode.name === 'culprits') return { ...mode, args: ['culprits', '-d', String(Math.ceil(totalSeconds) + 600)] };
  if (mode.name === 'record') return { ...mode, args: ['record', '-o', '/dev/null'] };
  return mode;
}

function parseOptions(): Options {
  const minutes = numberOption('--minutes', 10, 0.1, 180);
  const idleSeconds = numberOption('--idle-seconds', 60, 0, 3600);
  const stormArgs: string[] = [];
  if (process.argv.includes('--server-closes-first')) stormArgs.push('--server-closes-first');
  if (option('--rate') !== undefined) stormArgs.push('--rate', String(numberOption('--rate', 0, 1, 1e7)));
  return { minutes, idleSeconds, stormArgs, mode: soakMode(option('--mode') ?? 'hist', minutes * 60 + idleSeconds) };
}

// ---- the tracer, seen from outside ------------------------------------------

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

function cpuTicks(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

function bpftoolJson<T>(args: string[]): T {
  return JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8', maxBuffer: 16 << 20 })) as T;
}

interface TracerObjects { bss: number; acceptQueue: number; acceptQueueMax: number }

/** The tracer's counters map (.bss) and its one map keyed by socket address (socket state lives in socket storage), by id. */
function objectsOf(pid: number): TracerObjects {
  const maps = [...bpfIdsHeldBy(pid, 'map')].map((id) => bpftoolJson<{ id: number; name: string; max_entries: number }>(['map', 'show', 'id', String(id)]));
  const bss = maps.find((m) => m.name.endsWith('.bss'));
  const acceptQueue = maps.find((m) => m.name === 'accept_queue');
  if (!bss || !acceptQueue) throw new Error(`tcptrace (pid ${pid}) lacks its .bss or accept_queue map: ${maps.map((m) => m.name).join(', ')}`);
  return { bss: bss.id, acceptQueue: acceptQueue.id, acceptQueueMax: acceptQueue.max_entries };
}

interface KernelCounters { lost: number; nestedCaught: number; untracked: number; inferred: number }

/**
 * The kernel side's counters, read from outside. Events lost to a nested run
 * (the kernel's recursion misses less those the understudy program caught)
 * are left to the counters tcptrace prints at exit: sampled mid-storm, a miss
 * is often counted before the understudy's catch of it, which would show
 * losses that are not.
 */
function kernelCounters(objects: TracerObjects): KernelCounters {
  const [entry] = bpftoolJson<{ formatted: { value: { '.bss': Record<string, unknown>[] } } }[]>(['map', 'dump', 'id', String(objects.bss)]);
  const c = entry.formatted.value['.bss'].find((v) => 'counters' in v)!.counters as
    { ring_buffer_full: number; untracked_socks: number; inferred: number; nested_caught: number };
  return { lost: c.ring_buffer_full, nestedCaught: c.nested_caught, untracked: c.untracked_socks, inferred: c.inferred };
}

/** Entries in a hash map: streamed, so a full map does not sit in memory. */
function mapEntries(mapId: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const dump = spawn('bpftool', ['map', 'dump', 'id', String(mapId)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let count = 0;
    readline.createInterface({ input: dump.stdout }).on('line', (line) => { if (/^\s*"key":/.test(line)) count++; });
    dump.once('error', reject);
    dump.once('close', () => resolve(count));
  });
}

// ---- the run ------------------------------------------------------------------

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

async function startTracer(mode: Mode): Promise<{ child: ChildProcess; stderr: () => string }> {
  const devnull = fs.openSync('/dev/null', 'w');
  const child = spawn(process.execPath, [CLI, ...mode.args!, '-v'], { stdio: ['ignore', devnull, 'pipe'] });
  fs.closeSync(devnull);
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const deadline = Date.now() + 30_000;
  while (!/attached/.test(stderr)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tcptrace did not attach: ${stderr.trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, stderr: () => stderr };
}

/** One tcpstorm run; resolves to its JSON summary. */
function runStorm(seconds: number, args: string[], started: Set<ChildProcess>): Promise<{ connections: number; failed: number; rate: number }> {
  return new Promise((resolve, reject) => {
    const storm = spawn(STORM, ['--duration', String(seconds), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.add(storm);
    let out = '';
    storm.stdout!.on('data', (d) => { out += d; });
    storm.once('exit', (code) => {
      started.delete(storm);
      if (code !== 0) reject(new Error(`tcpstorm exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}

async function soak(options: Options): Promise<void> {
  const started = new Set<ChildProcess>();
  const interrupted = new AbortController();
  const abort = () => { for (const child of started) child.kill('SIGKILL'); };
  process.once('SIGINT', () => {
    console.error('soak: interrupted, cleaning up');
    interrupted.abort();
    abort();
  });

  const tracer = await startTracer(options.mode);
  started.add(tracer.child);
  const pid = tracer.child.pid!;
  const running = () => tracer.child.exitCode === null && tracer.child.signalCode === null;
  try {
    const objects = objectsOf(pid);
    const samples: Sample[] = [];
    const t0 = Date.now();
    let lastTicks = cpuTicks(pid);
    let lastAt = t0;
    let phase: Sample['phase'] = 'storm';
    const sample = async () => {
      if (!running()) return; // the verdict says it died
      const now = Date.now();
      const ticks = cpuTicks(pid);
      const c = kernelCounters(objects);
      samples.push({
        t: Math.round((now - t0) / 1000), phase, rssMb: rssMb(pid),
        cpuPercent: ((ticks - lastTicks) / CLOCK_TICKS / Math.max((now - lastAt) / 1000, 0.001)) * 100,
        ...c, mapEntries: await mapEntries(objects.acceptQueue),
      });
      lastTicks = ticks;
      lastAt = now;
    };
    await sample();
    let sampling = Promise.resolve();
    const timer = setInterval(() => { sampling = sampling.then(sample); }, SAMPLE_EVERY_MS);

    const storms: { connections: number; failed: number; rate: number }[] = [];
    let left = options.minutes * 60;
    while (left > 0 && running() && !interrupted.signal.aborted) {
      const seconds = Math.min(left, STORM_RUN_MAX_S);
      process.stderr.write(`soak: storm of ${seconds} s under tcptrace ${options.mode.args!.join(' ')}...\n`);
      storms.push(await runStorm(seconds, options.stormArgs, started));
      left -= seconds;
    }
    phase = 'idle';
    process.stderr.write(`soak: idle for ${options.idleSeconds} s...\n`);
    await sleep(options.idleSeconds * 1000, undefined, { signal: interrupted.signal });
    clearInterval(timer);
    await sampling;
    if (Date.now() - lastAt > SAMPLE_EVERY_MS / 2) await sample();
    const alive = running();

    tracer.child.kill('SIGINT');
    if (!(await waitForExit(tracer.child, 60_000))) throw new Error('tcptrace did not stop within 60 s of SIGINT');
    report(options, samples, storms, objects.acceptQueueMax, alive, tracer.child.exitCode, tracer.stderr());
  } finally {
    abort();
  }
}

// ---- the report ---------------------------------------------------------------

function pad(cells: string[], widths: number[]): string {
  return `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
}

function table(samples: Sample[]): string[] {
  const header = ['t s', 'phase', 'RSS MB', 'CPU %', 'lost (ring full)', 'nested caught', 'untracked', 'inferred', 'accept queue map'];
  const rows = samples.map((s) => [String(s.t), s.phase, s.rssMb.toFixed(1), s.cpuPercent.toFixed(0), String(s.lost),
    String(s.nestedCaught), String(s.untracked), String(s.inferred), String(s.mapEntries)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [pad(header, widths), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((r) => pad(r, widths))];
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

function report(options: Options, samples: Sample[], storms: { connections: number; failed: number; rate: number }[],
  acceptQueueMax: number, aliveAtEnd: boolean, exitCode: number | null, stderr: string): void {
  const connections = storms.reduce((n, s) => n + s.connections, 0);
  const failed = storms.reduce((n, s) => n + s.failed, 0);
  const rate = storms.length ? storms.reduce((n, s) => n + s.rate, 0) / storms.length : 0;
  console.log(`tcptrace soak: tcptrace ${options.mode.args!.join(' ')} under a ${options.minutes} min loopback storm ` +
    `(${connections} connections, ${failed} failed, ${rate.toFixed(0)} conn/s), then ${options.idleSeconds} s idle`);
  for (const line of table(samples)) console.log(line);

  const final = /^tcptrace: \d+ events lost.*$/m.exec(stderr)?.[0];
  console.log(`tcptrace at exit: status ${exitCode}; ${final?.replace(/^tcptrace: /, '') ?? 'no counters line; its last words:'}`);
  if (!final) for (const line of stderr.trim().split('\n').slice(-5)) console.log(`  ${line}`);
  console.log(`accept queue map: at most ${Math.max(...samples.map((s) => s.mapEntries))} of ${acceptQueueMax} entries`);
  console.log(verdict(samples, aliveAtEnd, Number(/^tcptrace: (\d+) events lost/m.exec(stderr)?.[1] ?? NaN)));
}

/**
 * Flat: after the first minute (the heap and the reader's queue warming up),
 * resident memory stays within what the first minute reached, plus a margin
 * for the garbage collector's swings; and, on runs long enough for a trend to
 * mean something, it does not trend up during the storm.
 */
function verdict(samples: Sample[], aliveAtEnd: boolean, lostAtExit: number): string {
  const first = samples.filter((s) => s.t < FIRST_MINUTE_S);
  const after = samples.filter((s) => s.t >= FIRST_MINUTE_S);
  if (after.length === 0) return 'verdict: too short to judge (no sample after the first minute)';
  const firstPeak = Math.max(...first.map((s) => s.rssMb));
  const laterPeak = Math.max(...after.map((s) => s.rssMb));
  const allowed = Math.max(16, firstPeak * 0.1);
  const storm = after.filter((s) => s.phase === 'storm');
  const trendMinutes = storm.length ? (storm[storm.length - 1].t - storm[0].t) / 60 : 0;
  const perMinute = slope(storm.map((s): [number, number] => [s.t / 60, s.rssMb]));
  const trendCounts = trendMinutes >= 3;
  const flat = laterPeak <= firstPeak + allowed && (!trendCounts || perMinute * trendMinutes <= allowed);
  const last = samples[samples.length - 1];
  return [
    `RSS: peak ${firstPeak.toFixed(1)} MB in the first minute, ${laterPeak.toFixed(1)} MB after it, ` +
      `${last.rssMb.toFixed(1)} MB at the end of the idle spell; trend during the storm after the first minute ` +
      `${perMinute >= 0 ? '+' : ''}${perMinute.toFixed(2)} MB/min over ${trendMinutes.toFixed(1)} min` +
      (trendCounts ? '' : ' (too short to count)'),
    `verdict: ${flat ? 'FLAT' : 'GROWING'} (allowed above the first minute's peak: ${allowed.toFixed(1)} MB); ` +
      `${aliveAtEnd ? 'tcptrace kept running' : 'TCPTRACE DIED during the run'}; ` +
      `${Number.isNaN(lostAtExit) ? 'no counters at exit' : `${lostAtExit} events lost, each counted`}; untracked sockets ${last.untracked}`,
  ].join('\n');
}

async function main(): Promise<void> {
  if (process.geteuid?.() !== 0) fail('the soak loads BPF: run it as root');
  const options = parseOptions();
  buildLoadGenerators();
  // Only the TIME_WAIT limit: bpf_stats_enabled (the bench's other setting) would add its own cost.
  await withSysctls({ 'net.ipv4.tcp_max_tw_buckets': BENCH_SYSCTLS['net.ipv4.tcp_max_tw_buckets'] }, () => soak(options));
}

main().then(() => process.exit(0), (err) => {
  console.error(`soak: ${err.message}`);
  process.exit(1);
});
