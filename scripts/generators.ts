/**
 * The loads the bench and the soak drive, all loopback only and bounded in time:
 * the project's reference storm (../shared/bench/storm.c, beside the repository;
 * a read-only copy in CI), the repository's own bench/tcpstorm.c (the soak's, and
 * the bench's fallback when the reference is absent), bench/tcphold.c (idle
 * connections held open), and bench/nsfill.c (network namespaces of the bench's
 * own, each with loopback sockets in known states).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = path.join(ROOT, 'build');
export const REFERENCE_SOURCE = path.resolve(ROOT, '..', 'shared', 'bench', 'storm.c');
export const STORM = path.join(BUILD, 'tcpstorm');
const HOLDER = path.join(BUILD, 'tcphold');
const NSFILL = path.join(BUILD, 'nsfill');

/** One connection, both sides: 5 transitions each (a listener's own 2 are not counted). */
export const TRANSITIONS_PER_CONNECTION = 10;
/** One connection the client aborts (tcpstorm --abort), both sides: 3 each, the last to CLOSE on the RST. */
export const TRANSITIONS_PER_ABORTED_CONNECTION = 6;

export interface StormOptions {
  seconds: number;
  /** Connections per second to pace at; none: as fast as it can. */
  rate?: number;
  serverClosesFirst: boolean;
  /** The client closes each connection with a RST, not a FIN (tcpstorm --abort; the reference storm has no such close). */
  abort?: boolean;
}

export interface StormRun {
  connections: number;
  seconds: number;
  rate: number;
  errors: number;
  /** Its connections ended in the client's RST (StormOptions.abort). */
  aborted?: boolean;
}

/** The TCP state transitions a storm's connections made (listeners' left out). */
export const transitions = (run: StormRun) =>
  run.connections * (run.aborted ? TRANSITIONS_PER_ABORTED_CONNECTION : TRANSITIONS_PER_CONNECTION);

export interface Generator {
  /** As the bench's header names it. */
  name: string;
  source: string;
  binary: string;
  args(o: StormOptions): string[];
  parse(stdout: string): StormRun;
}

const REFERENCE: Generator = {
  name: 'the reference storm (../shared/bench/storm.c)',
  source: REFERENCE_SOURCE,
  binary: path.join(BUILD, 'storm'),
  args(o) {
    if (o.abort) throw new Error('the reference storm has no abort (RST) close: drive bench/tcpstorm.c --abort');
    return ['-d', String(o.seconds), ...(o.rate ? ['-r', String(o.rate)] : []), ...(o.serverClosesFirst ? ['-s'] : [])];
  },
  parse(stdout) {
    const m = /connections=(\d+) seconds=([\d.]+) conn_per_s=([\d.]+) errors=(\d+)/.exec(stdout);
    if (!m) throw new Error(`storm printed no summary line: ${stdout.trim().slice(-200)}`);
    return { connections: Number(m[1]), seconds: Number(m[2]), rate: Number(m[3]), errors: Number(m[4]) };
  },
};

/** The repository's storm: the only one with --abort. */
export const TCPSTORM: Generator = {
  name: 'bench/tcpstorm.c',
  source: path.join(ROOT, 'bench', 'tcpstorm.c'),
  binary: STORM,
  args: (o) => ['--duration', String(o.seconds), ...(o.rate ? ['--rate', String(Math.round(o.rate))] : []),
    ...(o.serverClosesFirst ? ['--server-closes-first'] : []), ...(o.abort ? ['--abort'] : [])],
  parse(stdout) {
    const s = JSON.parse(stdout.trim().split('\n').pop()!) as { connections: number; failed: number; seconds: number; rate: number };
    return { connections: s.connections, seconds: s.seconds, rate: s.rate, errors: s.failed };
  },
};

function compile(source: string, binary: string): void {
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', binary, source], { stdio: 'inherit' });
}

/** The reference storm when ../shared is there; else tcpstorm, with why (the caller prints it). */
export function pickGenerator(): { generator: Generator; note?: string } {
  if (fs.existsSync(REFERENCE.source)) return { generator: REFERENCE };
  return {
    generator: TCPSTORM,
    note: `${REFERENCE_SOURCE} is absent: driving bench/tcpstorm.c instead, which makes about half the reference ` +
      'storm\'s connections per second; targets stated against the reference cannot be read from this run',
  };
}

/** Compiles the generator, the idle-connection holder and the namespace filler into build/. */
export function buildLoadGenerators(generator: Generator = TCPSTORM): void {
  compile(generator.source, generator.binary);
  compile(path.join(ROOT, 'bench', 'tcphold.c'), HOLDER);
  compile(path.join(ROOT, 'bench', 'nsfill.c'), NSFILL);
}

/** One bounded storm; resolves with its summary, rejects with its first line of complaint. */
export function runStorm(generator: Generator, o: StormOptions): Promise<StormRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(generator.binary, generator.args(o), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 30) * 1000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        try { resolve({ ...generator.parse(stdout), ...(o.abort ? { aborted: true } : {}) }); } catch (err) { reject(err); }
      } else {
        reject(new Error(`${path.basename(generator.binary)} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n')[0] || 'no message'}`));
      }
    });
  });
}

/** Starts tcphold; resolves with it once its connections are all established. */
export function holdConnections(count: number): Promise<ChildProcess> {
  const holder = spawn(HOLDER, ['--connections', String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    holder.stdout!.once('data', () => resolve(holder));
    holder.once('exit', (code) => reject(new Error(`tcphold exited (${code}) before holding its connections`)));
  });
}

// ---- namespaces of the bench's own ------------------------------------------------

/** `ip netns` names the bench makes; nothing else on the host has them. */
export const BENCH_NETNS_PREFIX = 'tcptrace-bench-';
const NETNS_RUN_DIR = '/run/netns';

/** Connections nsfill makes in each namespace, per state (bench/nsfill.c). */
export interface NetnsFill {
  established: number;
  closeWait: number;
  timeWait: number;
}

/** nsfill's line once every socket is made: {"namespaces":N,"sockets":S}. */
export function parseFillReady(line: string): { namespaces: number; sockets: number } {
  const ready = JSON.parse(line) as { namespaces?: unknown; sockets?: unknown };
  if (!Number.isInteger(ready.namespaces) || !Number.isInteger(ready.sockets)) throw new Error(`nsfill said "${line}", not its ready line`);
  return { namespaces: ready.namespaces as number, sockets: ready.sockets as number };
}

/** Runs `ip -batch -` with these commands, one process for all; -force goes on past a failed one. */
function ipBatch(commands: string[], force: boolean): void {
  if (commands.length) execFileSync('ip', [...(force ? ['-force'] : []), '-batch', '-'], { input: commands.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
}

/** The bench's namespaces now on the host (an interrupted earlier run's too). */
export function benchNamespaces(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR).filter((n) => n.startsWith(BENCH_NETNS_PREFIX));
  } catch {
    return [];
  }
}

/** Makes `count` namespaces (lo stays down: nsfill brings it up); resolves their files. */
export function addNamespaces(count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `${BENCH_NETNS_PREFIX}${i + 1}`);
  ipBatch(names.map((n) => `netns add ${n}`), false);
  return names.map((n) => path.join(NETNS_RUN_DIR, n));
}

/** Removes every namespace of the bench's; synchronous, so a signal handler can run it. */
export function removeBenchNamespaces(): void {
  ipBatch(benchNamespaces().map((n) => `netns del ${n}`), true);
}

/** Starts nsfill on these namespace files: it at once (to end it however the run ends),
 *  and the sockets it made once every one is made. */
export function startFiller(files: string[], fill: NetnsFill, maxSeconds: number): { filler: ChildProcess; ready: Promise<number> } {
  const filler = spawn(NSFILL, ['--established', String(fill.established), '--close-wait', String(fill.closeWait),
    '--time-wait', String(fill.timeWait), '--max-seconds', String(Math.ceil(maxSeconds)), ...files], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  filler.stderr!.on('data', (d) => { stderr += d; });
  const ready = new Promise<number>((resolve, reject) => {
    filler.stdout!.once('data', (d) => {
      try { resolve(parseFillReady(String(d).trim()).sockets); } catch (err) { reject(err); }
    });
    filler.once('exit', (code) => reject(new Error(`nsfill exited (${code}) before its sockets were made: ${stderr.trim().split('\n')[0] || 'no message'}`)));
  });
  return { filler, ready };
}
