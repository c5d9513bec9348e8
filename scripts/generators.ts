/**
 * The loads the bench and the soak drive, all loopback only and bounded in time:
 * the project's reference storm (../shared/bench/storm.c, beside the repository;
 * a read-only copy in CI), the repository's own bench/tcpstorm.c (the soak's, and
 * the bench's fallback when the reference is absent), and bench/tcphold.c (idle
 * connections held open).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = path.join(ROOT, 'build');
export const REFERENCE_SOURCE = path.resolve(ROOT, '..', 'shared', 'bench', 'storm.c');
export const STORM = path.join(BUILD, 'tcpstorm');
const HOLDER = path.join(BUILD, 'tcphold');

/** One connection, both sides: 5 transitions each (a listener's own 2 are not counted). */
export const TRANSITIONS_PER_CONNECTION = 10;

export interface StormOptions {
  seconds: number;
  /** Connections per second to pace at; none: as fast as it can. */
  rate?: number;
  serverClosesFirst: boolean;
}

export interface StormRun {
  connections: number;
  seconds: number;
  rate: number;
  errors: number;
}

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
  args: (o) => ['-d', String(o.seconds), ...(o.rate ? ['-r', String(o.rate)] : []), ...(o.serverClosesFirst ? ['-s'] : [])],
  parse(stdout) {
    const m = /connections=(\d+) seconds=([\d.]+) conn_per_s=([\d.]+) errors=(\d+)/.exec(stdout);
    if (!m) throw new Error(`storm printed no summary line: ${stdout.trim().slice(-200)}`);
    return { connections: Number(m[1]), seconds: Number(m[2]), rate: Number(m[3]), errors: Number(m[4]) };
  },
};

const TCPSTORM: Generator = {
  name: 'bench/tcpstorm.c',
  source: path.join(ROOT, 'bench', 'tcpstorm.c'),
  binary: STORM,
  args: (o) => ['--duration', String(o.seconds), ...(o.rate ? ['--rate', String(Math.round(o.rate))] : []),
    ...(o.serverClosesFirst ? ['--server-closes-first'] : [])],
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

/** Compiles the generator and the idle-connection holder into build/. */
export function buildLoadGenerators(generator: Generator = TCPSTORM): void {
  compile(generator.source, generator.binary);
  compile(path.join(ROOT, 'bench', 'tcphold.c'), HOLDER);
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
        try { resolve(generator.parse(stdout)); } catch (err) { reject(err); }
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
